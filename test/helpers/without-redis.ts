// `node --import ./test/helpers/without-redis.ts app.ts`: the app runs as if
// the optional peer dependency `redis` were not installed. Registered after
// tsx, so its resolve hook runs first.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'redis' || specifier.startsWith('redis/')) {
    const error = new Error("Cannot find package 'redis' (hidden by test/helpers/without-redis.ts)");
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

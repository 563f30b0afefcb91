import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

/**
 * Runs `fn` in a root context with tracing suppressed, whatever context the
 * caller is in: the recorder's own I/O (Redis calls, snapshot files) must
 * not become spans of the app's requests, recorded and exported with them,
 * when the app instruments `redis` or `fs`. What `fn` starts asynchronously
 * keeps that context.
 */
export function untraced<T>(fn: () => T): T {
  return context.with(suppressTracing(ROOT_CONTEXT), fn);
}

// Builds the package: ESM and CommonJS bundles with esbuild, and declarations
// with tsc, once as ESM (dist/types) and once as CommonJS (dist/types-cjs, the
// same files under a {"type":"commonjs"} package.json) so each condition of the
// exports map gets types of its own format.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles `src/<entry>.ts` into `outdir`; dependencies stay external so we bind to the user's SDK. */
export async function bundle(
  outdir,
  { entries = ['index', 'cli'], formats = ['esm', 'cjs'] } = {},
) {
  for (const format of formats) {
    await build({
      entryPoints: Object.fromEntries(entries.map((e) => [e, join(root, 'src', `${e}.ts`)])),
      outdir,
      bundle: true,
      packages: 'external',
      platform: 'node',
      target: 'node20',
      format,
      outExtension: { '.js': format === 'cjs' ? '.cjs' : '.js' },
      sourcemap: true,
      logLevel: 'warning',
      // Source reads import.meta only where `require` is missing, so in ESM.
      logOverride: format === 'cjs' ? { 'empty-import-meta': 'silent' } : undefined,
    });
  }
  return { cli: join(outdir, 'cli.js') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = join(root, 'dist');
  rmSync(dist, { recursive: true, force: true });
  await bundle(dist, { entries: ['index'] });
  const { cli } = await bundle(dist, { entries: ['cli'], formats: ['esm'] });
  chmodSync(cli, 0o755);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  const types = join(dist, 'types');
  const typesCjs = join(dist, 'types-cjs');
  mkdirSync(typesCjs, { recursive: true });
  cpSync(types, typesCjs, { recursive: true });
  writeFileSync(join(typesCjs, 'package.json'), '{ "type": "commonjs" }\n');
  console.log('built dist/ (ESM, CJS, declarations)');
}

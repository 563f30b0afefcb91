/** Bundles `src/<entry>.ts` into `outdir` with esbuild; see build.mjs. */
export function bundle(
  outdir: string,
  options?: { entries?: string[]; formats?: ('esm' | 'cjs')[] },
): Promise<{ cli: string }>;

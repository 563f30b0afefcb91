import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderScenario, type ScenarioResult } from './report.js';

/** How a scenario was asked to run. */
export interface RunOptions {
  /** Tiny iteration counts: proves the scenario runs, measures nothing. */
  smoke: boolean;
}

export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/**
 * Scenarios that need `global.gc` re-run themselves with `--expose-gc` when
 * started without it, so each can be run alone with `npx tsx bench/<name>.ts`.
 * Returns false in the parent, which should then do nothing more.
 */
export function ensureExposeGc(): boolean {
  if (typeof globalThis.gc === 'function') return true;
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit' },
  );
  process.exitCode = result.status ?? 1;
  return false;
}

export function gc(): void {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  globalThis.gc();
}

/**
 * Runs a scenario as a script: `--smoke` for tiny counts, `--json FILE` to
 * hand the result to bench/run.ts. The Markdown goes to stdout either way.
 */
export async function main(run: (options: RunOptions) => Promise<ScenarioResult>): Promise<void> {
  const args = process.argv.slice(2);
  const smoke = args.includes('--smoke') || process.env.BENCH_SMOKE === '1';
  const jsonAt = args.indexOf('--json');
  const result = await run({ smoke });
  if (jsonAt !== -1 && args[jsonAt + 1] !== undefined) {
    writeFileSync(args[jsonAt + 1]!, JSON.stringify(result));
  }
  process.stdout.write(`${renderScenario(result)}\n`);
}

/** Lets timers and I/O run: what a real service does between requests. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

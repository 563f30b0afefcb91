// Runs every scenario, each in its own process, and writes bench/RESULTS.md.
//   npm run bench         the full run (about 11 minutes), writes bench/RESULTS.md
//   npm run bench:smoke   tiny counts (seconds): proves every scenario still
//                         runs, fails if one crashes, never fails on a missed
//                         target, and prints to stdout without touching RESULTS.md
// One scenario alone: `npx tsx bench/<scenario>.ts [--smoke]`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineMarkdown } from './lib/machine.js';
import {
  renderScenario,
  renderTable,
  SOAK_END,
  SOAK_START,
  type ScenarioResult,
  targetRows,
} from './lib/report.js';

const SCENARIOS = [
  { file: 'pipeline.ts', gc: true },
  { file: 'http.ts', gc: false },
  { file: 'memory.ts', gc: true },
  { file: 'flush.ts', gc: true },
  { file: 'runtime.ts', gc: false },
  { file: 'storm.ts', gc: true },
  { file: 'coordination.ts', gc: false },
  { file: 'logs.ts', gc: true },
];

const smoke = process.argv.includes('--smoke');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const here = fileURLToPath(new URL('./', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'otel-flight-recorder-bench-'));
const results: ScenarioResult[] = [];
const started = Date.now();

try {
  for (const scenario of SCENARIOS) {
    if (only.length > 0 && !only.some((name) => scenario.file.startsWith(name))) continue;
    const json = join(scratch, `${scenario.file}.json`);
    const args = [
      ...(scenario.gc ? ['--expose-gc'] : []),
      '--import',
      'tsx',
      join(here, scenario.file),
      '--json',
      json,
      ...(smoke ? ['--smoke'] : []),
    ];
    process.stderr.write(`\n== ${scenario.file}${smoke ? ' (smoke)' : ''}\n`);
    const t0 = Date.now();
    // The scenario's Markdown goes to stdout only when it runs alone.
    const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) {
      throw new Error(`${scenario.file} failed (exit ${run.status ?? run.signal})`);
    }
    results.push(JSON.parse(readFileSync(json, 'utf8')) as ScenarioResult);
    process.stderr.write(`== ${scenario.file} done in ${((Date.now() - t0) / 1e3).toFixed(1)} s\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// A smoke run measures nothing, so it judges nothing either.
if (smoke) for (const r of results) r.targets = [];
const targets = results.flatMap((r) => r.targets);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const document = [
  '# Benchmarks',
  '',
  smoke
    ? '**Smoke run: tiny iteration counts. These figures mean nothing; they only show that every scenario runs.**'
    : `Written by \`npm run bench\` (${minutes} minutes). Each scenario can run alone: \`npx tsx bench/<scenario>.ts\` (\`--smoke\` for tiny counts). Every figure is the median over rounds, with the spread (min – max) beside it; baselines run in the same run, alternating with the configurations they are compared with.`,
  '',
  '## Machine',
  '',
  machineMarkdown(),
  '',
  '## Headlines',
  '',
  ...results.flatMap((r) => r.headlines.map((h) => `- ${h}`)),
  '',
  ...(smoke
    ? []
    : [
        '## Targets',
        '',
        renderTable(['target', 'figure', 'verdict', 'by how much, and why'], targetRows(targets)),
        '',
      ]),
  ...results.map(renderScenario),
].join('\n');

if (smoke) {
  process.stdout.write(`${document}\n`);
  process.stderr.write(`\nsmoke: ${results.length} scenarios ran in ${minutes} min\n`);
} else {
  // The soak section is written by `npm run soak` (10 minutes, not part of this
  // run): a rewrite keeps it, after the scenarios.
  const previous = existsSync(join(here, 'RESULTS.md'))
    ? readFileSync(join(here, 'RESULTS.md'), 'utf8')
    : '';
  const start = previous.indexOf(SOAK_START);
  const end = previous.indexOf(SOAK_END);
  const soak = start !== -1 && end > start ? previous.slice(start, end + SOAK_END.length) : '';
  writeFileSync(
    join(here, 'RESULTS.md'),
    soak === '' ? document : `${document.trimEnd()}\n\n${soak}\n`,
  );
  const missed = targets.filter((t) => !t.met).length;
  process.stderr.write(
    `\nwrote bench/RESULTS.md: ${targets.length - missed} targets met, ${missed} missed\n`,
  );
}

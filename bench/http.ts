// Scenario 2: an instrumented node:http service under load. The service runs
// in its own process (bench/lib/http-service.ts), autocannon in another, the
// OTLP receiver in a third; this process only orchestrates. Modes alternate
// within each round, each in a fresh service process.
import { execFile, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FlightRecorderStats } from '../src/index.js';
import { isMain, log, main, type RunOptions } from './lib/cli.js';
import { startReceiver } from './lib/receiver.js';
import { renderTable, type ScenarioResult, type Target } from './lib/report.js';
import { fmt, fmtSummary, pct, summarize } from './lib/stats.js';
import { nextMessage } from './lib/ipc.js';

export type Mode = 'off' | 'a' | 'b' | 'c' | 'd' | 'e';

const MODES: Mode[] = ['off', 'a', 'b', 'c', 'd', 'e'];
const LABELS: Record<Mode, string> = {
  off: 'tracing off (no SDK)',
  a: '(a) SDK, no processor',
  b: '(b) BatchSpanProcessor, discarding',
  c: '(c) BatchSpanProcessor + OTLPTraceExporter',
  d: '(d) flight recorder, no triggers',
  e: '(e) flight recorder, 1% of requests fail (window scope)',
};

export interface Sizes {
  rounds: number;
  warmSeconds: number;
  seconds: number;
  connections: number;
}

const FULL: Sizes = { rounds: 5, warmSeconds: 2, seconds: 5, connections: 16 };
const SMOKE: Sizes = { rounds: 1, warmSeconds: 0, seconds: 0, connections: 4 };
/** A smoke run sends this many requests instead of running for `seconds`. */
const SMOKE_REQUESTS = 100;

const service = fileURLToPath(new URL('./lib/http-service.ts', import.meta.url));
const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const execFileAsync = promisify(execFile);
/** Spans per request of the service: the server span and its 5 children. */
const SPANS_PER_REQUEST = 6;

/** One slice of scenario 5's measured period. */
export interface Slice {
  on: boolean;
  cpuUsPerRequest: number | null;
}

export interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  non2xx: number;
  errors: number;
  exported: number;
  windowFlush: boolean;
  /**
   * With BENCH_RUNTIME_TOGGLE_MS: each slice in order, whether runtime
   * capture ran in it, and its CPU per request (null when it served none).
   */
  slices?: Slice[];
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Runs autocannon in its own process and returns its JSON summary. */
async function autocannon(url: string, seconds: number, connections: number) {
  const length = seconds > 0 ? ['-d', String(seconds)] : ['-a', String(SMOKE_REQUESTS)];
  const { stdout } = await execFileAsync(
    process.execPath,
    [autocannonBin, '--json', '-c', String(connections), ...length, url],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as AutocannonJson;
}

/** One measured period of `mode` in a fresh service process; `env` is added to its environment. */
export async function runOnce(
  mode: Mode,
  sizes: Sizes,
  receiverUrl: string,
  env: Record<string, string> = {},
): Promise<Sample> {
  const child = fork(service, [mode], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, BENCH_RECEIVER_URL: receiverUrl },
    stdio: 'inherit',
  });
  try {
    const { url } = await nextMessage<{ url: string }>(child, 'listening', 'http service');
    // The warm-up fills the recorder's buffer and warms the JIT.
    if (sizes.warmSeconds > 0) await autocannon(url, sizes.warmSeconds, sizes.connections);
    const started = nextMessage(child, 'started', 'http service');
    child.send({ type: 'start' });
    await started;
    const result = await autocannon(url, sizes.seconds, sizes.connections);
    const stoppedP = nextMessage<{
      cpuUs: number;
      requests: number;
      recorder?: FlightRecorderStats;
      slices?: Slice[];
    }>(child, 'stopped', 'http service');
    child.send({ type: 'stop' });
    const stopped = await stoppedP;
    return {
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUsPerRequest: stopped.cpuUs / Math.max(1, stopped.requests),
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      exported: stopped.recorder?.spansExported ?? 0,
      windowFlush: (stopped.recorder?.flushes ?? 0) > 0,
      ...(stopped.slices !== undefined ? { slices: stopped.slices } : {}),
    };
  } finally {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (child.connected) child.send({ type: 'exit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function run(options: RunOptions): Promise<ScenarioResult> {
  const sizes = { ...(options.smoke ? SMOKE : FULL) };
  if (process.env.BENCH_ROUNDS) sizes.rounds = Number(process.env.BENCH_ROUNDS);
  const receiver = await startReceiver();
  const samples: Record<Mode, Sample[]> = { off: [], a: [], b: [], c: [], d: [], e: [] };
  try {
    for (let round = 0; round < sizes.rounds; round++) {
      const order = MODES.map((_, k) => MODES[(k + round) % MODES.length]!);
      for (const mode of order) {
        const sample = await runOnce(mode, sizes, receiver.url);
        samples[mode].push(sample);
        log(
          `http round ${round + 1}/${sizes.rounds} ${mode}: ${fmt(sample.rps)} req/s, p50 ${sample.p50} ms, p99 ${sample.p99} ms, ${fmt(sample.cpuUsPerRequest, 1)} µs CPU/request, exported ${sample.exported}`,
        );
        if (sample.errors > 0) throw new Error(`autocannon saw ${sample.errors} errors in ${mode}`);
      }
    }
  } finally {
    await receiver.stop();
  }
  return report(samples, sizes);
}

function report(samples: Record<Mode, Sample[]>, sizes: Sizes): ScenarioResult {
  const of = (mode: Mode, field: keyof Sample) =>
    summarize(samples[mode].map((s) => Number(s[field])));
  const vsA = (mode: Mode) => summarize(samples[mode].map((s, r) => s.rps / samples.a[r]!.rps));
  const rows = MODES.map((mode) => [
    LABELS[mode],
    fmtSummary(of(mode, 'rps')),
    mode === 'a' || mode === 'off' ? '–' : fmtSummary({ ...vsA(mode), n: vsA(mode).n }, 3),
    fmtSummary(of(mode, 'p50'), 0, ' ms'),
    fmtSummary(of(mode, 'p99'), 0, ' ms'),
    fmtSummary(of(mode, 'cpuUsPerRequest'), 1, ' µs'),
  ]);
  const eVsA = vsA('e').median;
  const cpuA = of('a', 'cpuUsPerRequest').median;
  const cpuE = of('e', 'cpuUsPerRequest').median;
  const cpuD = of('d', 'cpuUsPerRequest').median;
  const cpuC = of('c', 'cpuUsPerRequest').median;
  const windowFlushes = samples.e.filter((s) => s.windowFlush).length;
  const exported = of('e', 'exported').median;
  const cpuB = of('b', 'cpuUsPerRequest').median;
  const cpuNote = `CPU per request: (a) ${fmt(cpuA, 1)} µs, (b) ${fmt(cpuB, 1)} µs, (d) ${fmt(cpuD, 1)} µs, (e) ${fmt(cpuE, 1)} µs`;
  /** Throughput of `mode` over (b)'s, paired round by round. */
  const vsB = (mode: Mode) => summarize(samples[mode].map((s, r) => s.rps / samples.b[r]!.rps));
  const floor = (mode: 'd' | 'e') =>
    `(b), which records nothing, serves ${fmt(vsA('b').median, 3)} of (a), and (${mode}) / (b) is ${fmt(vsB(mode).median, 3)}`;
  /**
   * What a ratio leaves for recording: were throughput inversely
   * proportional to CPU per request, `ratio` of (a)'s allows (1/ratio − 1)
   * of (a)'s CPU on top, per request and per span.
   */
  const budget = (ratio: number) => {
    const perRequest = cpuA * (1 / ratio - 1);
    return `${fmt(perRequest, 1)} µs a request, ${fmt((perRequest * 1000) / SPANS_PER_REQUEST)} ns a span`;
  };
  /** A target on throughput vs (a): issue 8's must and aim. */
  const throughput = (mode: 'd' | 'e', must: number, aim: number, why: string): Target => {
    const ratio = vsA(mode);
    const met = ratio.median >= must;
    const added = of(mode, 'cpuUsPerRequest').median - cpuA;
    const room = `At (a)'s CPU per request, ${fmt(must, 2)} leaves ${budget(must)} for all that recording adds; (${mode}) adds ${fmt((added * 1000) / SPANS_PER_REQUEST)} ns a span`;
    return {
      target: `HTTP throughput, (${mode}) / (a): must ≥ ${fmt(must, 2)}, aim ≥ ${fmt(aim, 2)}`,
      figure: `${fmt(ratio.median, 3)} (per round ${fmtSummary(ratio, 3)})`,
      met,
      note: met
        ? `${ratio.median >= aim ? 'aim met' : `must met, aim missed by ${fmt(aim - ratio.median, 3)}`}. ${cpuNote}. ${room}. ${floor(mode)}.`
        : `${fmt(must - ratio.median, 3)} below the must. ${cpuNote}: ${why}; the service is CPU-bound, so that time comes straight off throughput. ${room}. ${floor(mode)}.`,
    };
  };
  const targets: Target[] = [
    throughput('d', 0.93, 0.97, `recording adds ${fmt(cpuD - cpuA, 1)} µs per request`),
    throughput(
      'e',
      0.9,
      0.95,
      `(e) spends ${fmt(cpuE - cpuA, 1)} µs more per request, of which recording alone, (d), is ${fmt(cpuD - cpuA, 1)} µs and exporting ${fmt(exported)} spans per period the rest`,
    ),
  ];

  const markdown = `
The service (\`bench/lib/http-service.ts\`) is a \`node:http\` server
instrumented by \`@opentelemetry/instrumentation-http\` under a
\`NodeTracerProvider\` from \`@opentelemetry/sdk-trace-node\`. Each request
creates the same 5 child spans as scenario 1 under the server span, so 6
spans per request. With tracing off the SDK is not registered and the handler
runs against the API's no-op tracer. In the measured period one request in
100 answers 500, which ends the server span with status ERROR in every mode;
only (e) triggers on it (\`triggers: ['error']\`, window scope, other options
default), so its measured period holds one full-window flush (the warm-up has
filled the buffer) and one trace flush per failed request: median
${fmt(exported)} spans exported per period (${windowFlushes} of
${samples.e.length} periods had a flush).

Each mode runs in a fresh service process: ${sizes.warmSeconds} s of
autocannon warm-up, then ${sizes.seconds} s measured, ${sizes.connections}
connections, autocannon in its own process. CPU per request is the service
process's \`process.cpuUsage()\` over the measured period divided by the
requests it served. The OTLP receiver is a separate process. ${sizes.rounds}
rounds, the order of the modes rotating each round; median (min – max). This
machine has 2 cores shared by the service, autocannon and the receiver, so
absolute figures are lower than on a server; compare the ratios.

${renderTable(
  ['mode', 'requests/s', 'throughput vs (a)', 'p50 latency', 'p99 latency', 'CPU per request'],
  rows,
)}

(b) costs ${fmt(cpuB - cpuA, 1)} µs of CPU per request over (a), (c)
${fmt(cpuC - cpuA, 1)} µs, (d) ${fmt(cpuD - cpuA, 1)} µs, (e) ${fmt(cpuE - cpuA, 1)} µs.
Against (b), the floor that records nothing, (d) serves
${fmt(vsB('d').median, 3)} (per round ${fmtSummary(vsB('d'), 3)}) and (e)
${fmt(vsB('e').median, 3)}.
`;
  return {
    title: '2. HTTP service under load',
    markdown,
    targets,
    headlines: [
      `HTTP: with 1% of requests triggering (e), the service serves ${pct(eVsA)} of the requests per second it serves with the SDK and no processor (a); exporting everything (c) serves ${pct(vsA('c').median)}.`,
    ],
  };
}

if (isMain(import.meta.url)) await main(run);

// Two builds of the recorder side by side in one process, for a change to
// the hot path: the CPU a span costs with build A and with build B, rounds
// alternating (and rotating) so both see the same machine. Not part of
// `npm run bench`: it needs a second build. Make one from any commit with
//
//   git worktree add /tmp/recorder-a <commit>
//   (cd /tmp/recorder-a && npm ci && npm run build)
//   npm run build && BENCH_A=/tmp/recorder-a/dist/index.js npx tsx bench/compare-builds.ts
//
// B is this checkout's `dist/` unless BENCH_B names another build. Two
// modes (BENCH_MODE):
// - `replay` (default): scenario 1's spans built once, then replayed through
//   each build's onStart and onEnd (as bench/record-replay.ts), 60 rounds;
//   prints each build's median and the median of the per-round ratios B / A.
// - `replay-http`: the same with scenario 2's spans, served once by a
//   `node:http` server under instrumentation-http (3,000 requests).
// - `pipeline`: scenario 1 as bench/pipeline.ts runs it, (a) no processor,
//   (c) BatchSpanProcessor + OTLPTraceExporter, and (d) no triggers and (e)
//   1% of roots failing with each build, 8 rounds; prints what each adds over
//   (a), its share of (c)'s, and the per-round ratio of B's overhead to A's.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ensureExposeGc, gc, log, yieldToLoop } from './lib/cli.js';
import { endedHttpSpans, endedSpans } from './lib/ended-spans.js';
import { startReceiver } from './lib/receiver.js';
import { fmt, summarize } from './lib/stats.js';
import { emitTrace, SPANS_PER_TRACE } from './lib/workload.js';

type Build = typeof import('../src/index.js');

async function load(path: string): Promise<Build> {
  return (await import(pathToFileURL(resolve(path)).href)) as Build;
}

const median = (xs: number[]): number => summarize(xs).median;

const E_OPTIONS = {
  triggers: ['error' as const],
  flushScope: 'window' as const,
  maxBytes: 16 * 1024 * 1024,
  onFlush: () => {},
};

function rounds(fallback: number): number {
  const n = Number(process.env.BENCH_ROUNDS ?? fallback);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`BENCH_ROUNDS must be a positive integer, not ${process.env.BENCH_ROUNDS}`);
    process.exit(2);
  }
  return n;
}

async function replay(a: Build, b: Build, rounds: number, http: boolean): Promise<void> {
  const spans = http ? await endedHttpSpans(3_000) : endedSpans(20_000);
  // No runtime events: their sampler would run between replays.
  const recorders = [a, b].map(
    (m) => new m.FlightRecorderSpanProcessor({ triggers: [], runtimeEvents: false }),
  );
  const root = context.active();
  const once = (k: number): number => {
    const recorder = recorders[k]!;
    const cpu0 = process.cpuUsage();
    for (const span of spans) {
      recorder.onStart(span as never, root);
      recorder.onEnd(span);
    }
    const cpu = process.cpuUsage(cpu0);
    return ((cpu.user + cpu.system) * 1e3) / spans.length;
  };
  for (let i = 0; i < 4; i++) once(i & 1);
  const ns: [number[], number[]] = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) ns[k]!.push(once(k));
  }
  const ratio = median(ns[1].map((x, r) => x / ns[0][r]!));
  console.log(
    `${http ? 'replay-http' : 'replay'}, ${spans.length} spans × ${rounds} rounds: A ${fmt(median(ns[0]))} ns/span, B ${fmt(median(ns[1]))} ns/span, B / A per round ${fmt(ratio, 3)}`,
  );
  await Promise.all(recorders.map((r) => r.shutdown()));
}

async function pipeline(a: Build, b: Build, rounds: number): Promise<void> {
  const receiver = await startReceiver();
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
  const make: Record<string, () => SpanProcessor[]> = {
    a: () => [],
    c: () => [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: receiver.url }) })],
    dA: () => [new a.FlightRecorderSpanProcessor({ triggers: [] })],
    dB: () => [new b.FlightRecorderSpanProcessor({ triggers: [] })],
    // As bench/pipeline.ts's (e), which counts its window flushes' spans.
    eA: () => [new a.FlightRecorderSpanProcessor({ ...E_OPTIONS })],
    eB: () => [new b.FlightRecorderSpanProcessor({ ...E_OPTIONS })],
  };
  const keys = Object.keys(make);
  const ns: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const drive = async (provider: TracerProvider, from: number, count: number, fail: boolean) => {
    const tracer = provider.getTracer('bench', '1.0.0');
    for (let i = 0; i < count; i++) {
      emitTrace(tracer, from + i, fail && i % 100 === 50);
      if (i % 10 === 9) await yieldToLoop();
    }
  };
  try {
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < keys.length; j++) {
        const key = keys[(j + r) % keys.length]!;
        const provider = new TracerProvider({ spanProcessors: make[key]!() });
        await drive(provider, 0, 6_000, false);
        await provider.forceFlush();
        gc();
        await yieldToLoop();
        const cpu0 = process.cpuUsage();
        await drive(provider, 6_000, 30_000, true);
        await provider.forceFlush();
        const cpu = process.cpuUsage(cpu0);
        ns[key]!.push(((cpu.user + cpu.system) * 1e3) / (30_000 * SPANS_PER_TRACE));
        await provider.shutdown();
      }
      log(`compare-builds pipeline round ${r + 1}/${rounds}`);
    }
  } finally {
    await receiver.stop();
  }
  const over = (k: string) => ns[k]!.map((x, r) => x - ns.a![r]!);
  const c = median(over('c'));
  console.log(`pipeline, ${rounds} rounds: (c) adds ${fmt(c)} ns/span over (a)`);
  for (const x of ['d', 'e']) {
    const oa = median(over(`${x}A`));
    const ob = median(over(`${x}B`));
    const ratio = median(over(`${x}B`).map((v, r) => v / over(`${x}A`)[r]!));
    console.log(
      `(${x}) adds A ${fmt(oa)} ns/span (${fmt(oa / c, 3)} of (c)), B ${fmt(ob)} ns/span (${fmt(ob / c, 3)} of (c)); B / A per round ${fmt(ratio, 3)}`,
    );
  }
}

if (ensureExposeGc()) {
  const pathA = process.env.BENCH_A;
  if (pathA === undefined) {
    console.error('BENCH_A must name the other build: see the top of bench/compare-builds.ts');
    process.exit(2);
  }
  const a = await load(pathA);
  const b = await load(process.env.BENCH_B ?? 'dist/index.js');
  const mode = process.env.BENCH_MODE ?? 'replay';
  if (mode === 'pipeline') await pipeline(a, b, rounds(8));
  else if (mode === 'replay' || mode === 'replay-http') {
    await replay(a, b, rounds(60), mode === 'replay-http');
  } else {
    console.error(`BENCH_MODE must be replay, replay-http or pipeline, not ${mode}`);
    process.exit(2);
  }
}

// (e) taken apart (docs/overhead.md, the sixteenth pass): scenario 1's
// rounds as bench/pipeline.ts runs them (a warm-up of 6,000 traces, then
// 30,000 timed, one root in 100 failing), through variants of (e), each in
// a fresh provider, the order reversed every other round. Prints the CPU per
// span of each, and its median overhead over (a).
//   node --expose-gc --import tsx bench/experiments/e-parts.ts [configs] [rounds, 6]
// configs: a comma list of a, d, e, e-no-onflush, e-trace, e-window-only.
import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../../src/index.js';
import { gc, yieldToLoop } from '../lib/cli.js';
import { startReceiver } from '../lib/receiver.js';
import { fmt } from '../lib/stats.js';
import { emitTrace, SPANS_PER_TRACE } from '../lib/workload.js';

const MAX_BYTES = 16 * 1024 * 1024;
const WARM_TRACES = 6_000;
const TRACES = 30_000;
const FAIL_EVERY = 100;

/** Fails the first failing root only: one window flush, and no trace flushes after it. */
function firstErrorOnly(): (span: ReadableSpan) => string | undefined {
  let fired = false;
  return (span) => {
    if (fired || span.status.code !== 2 || span.parentSpanContext !== undefined) return undefined;
    fired = true;
    return 'error';
  };
}

const CONFIGS: Record<string, () => SpanProcessor[]> = {
  a: () => [],
  d: () => [new FlightRecorderSpanProcessor({ triggers: [] })],
  // As bench/pipeline.ts's (e): its onFlush counts each flush's traces.
  e: () => [
    new FlightRecorderSpanProcessor({
      triggers: ['error'],
      flushScope: 'window',
      maxBytes: MAX_BYTES,
      onFlush: () => {},
    }),
  ],
  'e-no-onflush': () => [
    new FlightRecorderSpanProcessor({
      triggers: ['error'],
      flushScope: 'window',
      maxBytes: MAX_BYTES,
    }),
  ],
  'e-trace': () => [
    new FlightRecorderSpanProcessor({
      triggers: ['error'],
      flushScope: 'trace',
      maxBytes: MAX_BYTES,
    }),
  ],
  'e-window-only': () => [
    new FlightRecorderSpanProcessor({
      triggers: [],
      shouldTrigger: firstErrorOnly(),
      flushScope: 'window',
      maxBytes: MAX_BYTES,
    }),
  ],
};

const names = (process.argv[2] ?? 'a,d,e,e-no-onflush,e-trace,e-window-only').split(',');
const rounds = Number(process.argv[3] ?? 6);
for (const name of names) {
  if (!(name in CONFIGS)) {
    console.error(`unknown config ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);
    process.exit(2);
  }
}
if (!names.includes('a') || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: e-parts.ts <configs, a among them> [rounds]');
  process.exit(2);
}

const receiver = await startReceiver();
process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
const cpuPerSpan = new Map<string, number[]>();
try {
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const provider = new TracerProvider({ spanProcessors: CONFIGS[name]!() });
      const tracer = provider.getTracer('bench', '1.0.0');
      for (let i = 0; i < WARM_TRACES; i++) {
        emitTrace(tracer, i, false);
        if (i % 10 === 9) await yieldToLoop();
      }
      await provider.forceFlush();
      gc();
      await yieldToLoop();
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < TRACES; i++) {
        emitTrace(tracer, WARM_TRACES + i, i % FAIL_EVERY === FAIL_EVERY >> 1);
        if (i % 10 === 9) await yieldToLoop();
      }
      await provider.forceFlush();
      const cpu = process.cpuUsage(cpu0);
      const ns = ((cpu.user + cpu.system) * 1e3) / (TRACES * SPANS_PER_TRACE);
      cpuPerSpan.set(name, [...(cpuPerSpan.get(name) ?? []), ns]);
      await provider.shutdown();
    }
  }
} finally {
  await receiver.stop();
}
const median = (xs: readonly number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const a = median(cpuPerSpan.get('a')!);
for (const name of names) {
  const all = cpuPerSpan.get(name)!;
  const over = name === 'a' ? '' : ` (+${fmt(median(all) - a)})`;
  console.log(
    `${name.padEnd(14)} ${fmt(median(all))} ns a span${over}; rounds ${all.map((x) => fmt(x)).join(' ')}`,
  );
}

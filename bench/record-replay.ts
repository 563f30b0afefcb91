// The recorder's own cost per span, apart from the SDK: scenario 1's spans
// are built once (20,000 traces of 6), then replayed through the recorder's
// onStart and onEnd, 15 times, with CPU taken around each replay. Nothing
// else runs, so the figure moves far less than the pipeline's (d) − (a),
// which subtracts two noisy figures. It is a diagnostic, not part of
// `npm run bench`: a replayed span repeats its ids and values, so it reads
// the id and value caches warmer than fresh traffic does. So it also times
// the recorder's two hooks on fresh spans, as the SDK makes them in scenario
// 1: each hook call is timed with performance.now(), and the same wrapper
// around hooks that do nothing, alternating with it, gives the timing's own
// cost, which is subtracted.
//   npx tsx bench/record-replay.ts
import { context } from '@opentelemetry/api';
import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { endedSpans } from './lib/ended-spans.js';
import { summarize } from './lib/stats.js';
import { emitTrace, SPANS_PER_TRACE } from './lib/workload.js';

const TRACES = 20_000;
const REPLAYS = 15;

const spans = endedSpans(TRACES);

// No triggers: recording only, as the pipeline's (d). No runtime events:
// their sampler would run between replays.
const recorder = new FlightRecorderSpanProcessor({ triggers: [], runtimeEvents: false });
const root = context.active();
function replay(): void {
  for (const span of spans) {
    recorder.onStart(span as never, root);
    recorder.onEnd(span);
  }
}
for (let i = 0; i < 5; i++) replay();
const perSpan: number[] = [];
for (let r = 0; r < REPLAYS; r++) {
  const cpu0 = process.cpuUsage();
  replay();
  const cpu = process.cpuUsage(cpu0);
  perSpan.push(((cpu.user + cpu.system) * 1e3) / spans.length);
}
const s = summarize(perSpan);
const stats = recorder.stats();
console.log(
  `recorder onStart + onEnd, ${TRACES * SPANS_PER_TRACE} spans × ${REPLAYS}: ` +
    `median ${s.median.toFixed(0)} ns/span (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)}); ` +
    `${stats.bufferedSpans} spans buffered in ${stats.bufferedBytes} bytes`,
);
await recorder.shutdown();

/** Time inside `inner`'s onStart and onEnd per span, ns, over `traces` fresh traces after a warm-up. */
async function hookTime(inner: SpanProcessor, traces: number): Promise<number> {
  let ns = 0;
  let ended = 0;
  let timing = false;
  const timed: SpanProcessor = {
    onStart(span, parent) {
      if (!timing) return inner.onStart(span, parent);
      const t0 = performance.now();
      inner.onStart(span, parent);
      ns += performance.now() - t0;
    },
    onEnd(span: ReadableSpan) {
      if (!timing) return inner.onEnd(span);
      const t0 = performance.now();
      inner.onEnd(span);
      ns += performance.now() - t0;
      ended++;
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
  const provider = new TracerProvider({ spanProcessors: [timed] });
  const tracer = provider.getTracer('bench', '1.0.0');
  for (let i = 0; i < 6_000; i++) {
    emitTrace(tracer, i, false);
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  timing = true;
  for (let i = 0; i < traces; i++) {
    emitTrace(tracer, 6_000 + i, false);
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  await provider.shutdown();
  return (ns * 1e6) / ended;
}

const nothing: SpanProcessor = {
  onStart() {},
  onEnd() {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const fresh: number[] = [];
const empty: number[] = [];
for (let round = 0; round < 6; round++) {
  for (const k of round % 2 === 0 ? [0, 1] : [1, 0]) {
    if (k === 0) {
      const fresher = new FlightRecorderSpanProcessor({ triggers: [], runtimeEvents: false });
      fresh.push(await hookTime(fresher, 20_000));
    } else empty.push(await hookTime(nothing, 20_000));
  }
}
const f = summarize(fresh);
const e = summarize(empty);
console.log(
  `recorder onStart + onEnd on fresh spans, 120000 spans × 6: median ${(f.median - e.median).toFixed(0)} ns/span ` +
    `(${f.median.toFixed(0)} timed, less ${e.median.toFixed(0)} for the timing around hooks that do nothing)`,
);

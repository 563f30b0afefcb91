// The recorder's own cost per span, apart from the SDK: scenario 1's spans
// are built once (20,000 traces of 6), then replayed through the recorder's
// onStart and onEnd, 15 times, with CPU taken around each replay. Nothing
// else runs, so the figure moves far less than the pipeline's (d) − (a),
// which subtracts two noisy figures. It is a diagnostic, not part of
// `npm run bench`: a replayed span repeats its ids and values, so it reads
// the id and value caches warmer than fresh traffic does.
//   npx tsx bench/record-replay.ts
import { context } from '@opentelemetry/api';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { endedSpans } from './lib/ended-spans.js';
import { summarize } from './lib/stats.js';
import { SPANS_PER_TRACE } from './lib/workload.js';

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

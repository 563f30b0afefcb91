// What a full-window flush's CPU is made of: per span, and per OTLP request.
// Fills a 16 MiB window with scenario 1's traces, as bench/flush.ts does, then
// exports it with snapshot() through the default path to the loopback
// receiver (its own process), with requests bounded by `maxExportBatchSize`
// alone at 128, 512 (BatchSpanProcessor's default), 2048 and 8192 spans, and
// by the defaults (2048 spans and `maxExportBatchBytes`, 1 MiB) and 2048
// spans with 512 KiB, the order rotating each round.
// A least-squares fit of each flush's CPU to its spans and its requests splits
// the cost into a part per span and a part per request. A diagnostic, not
// part of `npm run bench`:
//   npx tsx bench/flush-batches.ts            (BENCH_ROUNDS=4 by default)
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { ensureExposeGc, gc, isMain, log, yieldToLoop } from './lib/cli.js';
import { startReceiver } from './lib/receiver.js';
import { fmt, summarize } from './lib/stats.js';
import { emitTrace } from './lib/workload.js';

/** Each configuration: spans a request, and bytes a request (Infinity: spans alone bound it). */
const BATCHES: readonly { readonly spans: number; readonly bytes: number }[] = [
  { spans: 128, bytes: Number.POSITIVE_INFINITY },
  { spans: 512, bytes: Number.POSITIVE_INFINITY },
  { spans: 2048, bytes: Number.POSITIVE_INFINITY },
  { spans: 8192, bytes: Number.POSITIVE_INFINITY },
  { spans: 2048, bytes: 512 * 1024 },
  { spans: 2048, bytes: 1024 * 1024 },
];
const label = (b: (typeof BATCHES)[number]): string =>
  b.bytes === Number.POSITIVE_INFINITY
    ? `${b.spans} spans`
    : `${b.spans} spans, ${fmt(b.bytes / 1024)} KiB${b.bytes === 1024 * 1024 ? ' (the defaults)' : ''}`;
const MAX_BYTES = 16 * 1024 * 1024;

interface Flush {
  batch: (typeof BATCHES)[number];
  spans: number;
  requests: number;
  bytes: number;
  cpuNs: number;
}

async function flushOnce(
  batch: (typeof BATCHES)[number],
  stats: () => Promise<{ requests: number; bytes: number }>,
): Promise<Flush> {
  const recorder = new FlightRecorderSpanProcessor({
    triggers: [],
    maxBytes: MAX_BYTES,
    minAgeMs: 3_600_000,
    maxExportBatchSize: batch.spans,
    maxExportBatchBytes: batch.bytes === Number.POSITIVE_INFINITY ? 2 ** 30 : batch.bytes,
  });
  const provider = new TracerProvider({ spanProcessors: [recorder] });
  const tracer = provider.getTracer('bench-flush', '1.0.0');
  for (let i = 0; recorder.stats().spansEvictedByBytes === 0 && i < 1_000_000; i++) {
    emitTrace(tracer, i, false);
    if (i % 100 === 99) await yieldToLoop();
  }
  gc();
  await yieldToLoop();
  const before = await stats();
  const cpu0 = process.cpuUsage();
  const result = await recorder.snapshot('bench');
  const cpu = process.cpuUsage(cpu0);
  const after = await stats();
  await provider.shutdown();
  return {
    batch,
    spans: result.spans,
    requests: after.requests - before.requests,
    bytes: after.bytes - before.bytes,
    cpuNs: (cpu.user + cpu.system) * 1e3,
  };
}

/** Least squares of cpu = perSpan × spans + perRequest × requests, no intercept. */
function fit(flushes: Flush[]): { perSpan: number; perRequest: number } {
  let ss = 0;
  let sr = 0;
  let rr = 0;
  let sc = 0;
  let rc = 0;
  for (const f of flushes) {
    ss += f.spans * f.spans;
    sr += f.spans * f.requests;
    rr += f.requests * f.requests;
    sc += f.spans * f.cpuNs;
    rc += f.requests * f.cpuNs;
  }
  const det = ss * rr - sr * sr;
  return { perSpan: (sc * rr - rc * sr) / det, perRequest: (rc * ss - sc * sr) / det };
}

async function run(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new TypeError(`BENCH_ROUNDS must be a positive integer, got ${process.env.BENCH_ROUNDS}`);
  }
  const receiver = await startReceiver();
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
  const flushes: Flush[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < BATCHES.length; k++) {
        const f = await flushOnce(BATCHES[(round + k) % BATCHES.length]!, () => receiver.stats());
        flushes.push(f);
        log(
          `round ${round + 1}/${rounds} batch ${label(f.batch)}: ${f.spans} spans in ${f.requests} requests, ${fmt(f.cpuNs / f.spans)} ns CPU a span`,
        );
      }
    }
  } finally {
    await receiver.stop();
  }
  console.log(
    '| a request at most | requests | bytes a request | CPU a span flushed, median (min – max) |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const batch of BATCHES) {
    const of = flushes.filter((f) => f.batch === batch);
    const perSpan = summarize(of.map((f) => f.cpuNs / f.spans));
    const requests = summarize(of.map((f) => f.requests)).median;
    const bytes = summarize(of.map((f) => f.bytes / Math.max(1, f.requests))).median;
    console.log(
      `| ${label(batch)} | ${fmt(requests)} | ${fmt(bytes / 1024)} KiB | ${fmt(perSpan.median)} ns (${fmt(perSpan.min)} – ${fmt(perSpan.max)}) |`,
    );
  }
  const { perSpan, perRequest } = fit(flushes);
  console.log(
    `\nFit over ${flushes.length} flushes: ${fmt(perSpan)} ns a span plus ${fmt(perRequest / 1e3)} µs a request.`,
  );
}

if (isMain(import.meta.url) && ensureExposeGc()) await run();

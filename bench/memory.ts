// Scenario 3: memory. Feeds 1M spans through a recorder with maxBytes 16 MiB
// and measures the heap the full buffer really retains: heap used after a
// full GC with the buffer full, minus the same with the recorder gone. The
// byte estimate's error is its figure for the buffer over that measurement.
// Three span shapes: the 6-span traces of scenario 1, small spans and spans
// with events; the constants of src/size-estimate.ts are fitted to them.
import type { Tracer } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { type ReadableSpan, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { ensureExposeGc, gc, isMain, log, main, type RunOptions, yieldToLoop } from './lib/cli.js';
import { renderTable, type ScenarioResult, type Target } from './lib/report.js';
import { fmt, pct } from './lib/stats.js';
import { emitEventfulSpan, emitSmallSpan, emitTrace, SPANS_PER_TRACE } from './lib/workload.js';

const MAX_BYTES = 16 * 1024 * 1024;

type Shape = 'scenario' | 'small' | 'events';

const SHAPES: Record<
  Shape,
  { label: string; spansPerCall: number; emit: (t: Tracer, i: number) => void }
> = {
  scenario: {
    label: 'scenario 1 traces (root + 5 children, ~10 attributes, events on 2 of 6)',
    spansPerCall: SPANS_PER_TRACE,
    emit: (t, i) => emitTrace(t, i, false),
  },
  small: {
    label: 'small spans (name + 2 attributes)',
    spansPerCall: 1,
    emit: emitSmallSpan,
  },
  events: {
    label: 'spans with 10 attributes and 3 events',
    spansPerCall: 1,
    emit: emitEventfulSpan,
  },
};

class DiscardingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

interface Measurement {
  shape: Shape;
  spansFed: number;
  bufferedSpans: number;
  estimatedBytes: number;
  retainedBytes: number;
}

async function heapAfterGc(): Promise<number> {
  // Twice, with a turn of the loop between, so weak callbacks and
  // finalization run and the second collection sees the settled heap.
  gc();
  await yieldToLoop();
  gc();
  return process.memoryUsage().heapUsed;
}

async function measure(shape: Shape, spans: number): Promise<Measurement> {
  const { emit, spansPerCall } = SHAPES[shape];
  let recorder: FlightRecorderSpanProcessor | undefined = new FlightRecorderSpanProcessor({
    exporter: new DiscardingExporter(),
    triggers: [],
    maxBytes: MAX_BYTES,
    // Only the byte bound applies: nothing ages out during the run.
    minAgeMs: 3_600_000,
  });
  let provider: TracerProvider | undefined = new TracerProvider({ spanProcessors: [recorder] });
  const tracer = provider.getTracer('bench-memory', '1.0.0');
  const calls = Math.ceil(spans / spansPerCall);
  for (let i = 0; i < calls; i++) {
    emit(tracer, i);
    if (i % 1000 === 999) await yieldToLoop();
  }
  const full = await heapAfterGc();
  const stats = recorder.stats();
  await provider.shutdown();
  // Drop every reference to the recorder, so its ring arrays count too.
  recorder = undefined;
  provider = undefined;
  const empty = await heapAfterGc();
  return {
    shape,
    spansFed: calls * spansPerCall,
    bufferedSpans: stats.bufferedSpans,
    estimatedBytes: stats.bufferedBytes,
    retainedBytes: full - empty,
  };
}

export async function run(options: RunOptions): Promise<ScenarioResult> {
  const spans = options.smoke ? 20_000 : 1_000_000;
  const results: Measurement[] = [];
  for (const shape of Object.keys(SHAPES) as Shape[]) {
    const m = await measure(shape, spans);
    results.push(m);
    log(
      `memory ${shape}: ${m.bufferedSpans} spans buffered, retained ${fmt(m.retainedBytes / 2 ** 20, 2)} MiB (${fmt(m.retainedBytes / m.bufferedSpans)} B/span), estimated ${fmt(m.estimatedBytes / 2 ** 20, 2)} MiB (${fmt(m.estimatedBytes / m.bufferedSpans)} B/span)`,
    );
  }
  return report(results, options);
}

function report(results: Measurement[], options: RunOptions): ScenarioResult {
  const rows = results.map((m) => [
    SHAPES[m.shape].label,
    fmt(m.spansFed),
    fmt(m.bufferedSpans),
    `${fmt(m.retainedBytes / 2 ** 20, 2)} MiB`,
    pct(m.retainedBytes / MAX_BYTES),
    `${fmt(m.estimatedBytes / 2 ** 20, 2)} MiB`,
    fmt(m.retainedBytes / m.bufferedSpans),
    fmt(m.estimatedBytes / m.bufferedSpans),
    fmt(m.estimatedBytes / m.retainedBytes, 3),
  ]);
  const main = results.find((m) => m.shape === 'scenario')!;
  const ratio = main.retainedBytes / MAX_BYTES;
  const error = main.estimatedBytes / main.retainedBytes;
  const worst = results.reduce((w, m) => {
    const e = Math.abs(m.estimatedBytes / m.retainedBytes - 1);
    return Math.max(e, w);
  }, 0);
  const within = ratio >= 0.75 && ratio <= 1.25;
  const targets: Target[] = [
    {
      target: 'Retained heap within ±25% of maxBytes when the buffer is full',
      figure: `${fmt(main.retainedBytes / 2 ** 20, 2)} MiB retained for maxBytes 16 MiB: ${pct(ratio)}`,
      met: within && !options.smoke,
      note: options.smoke
        ? 'smoke run: the buffer is not full, nothing is measured.'
        : within
          ? `${pct(Math.abs(ratio - 1))} ${ratio >= 1 ? 'over' : 'under'} maxBytes, inside the ±25% band. Estimate error (estimated / measured): ${fmt(error, 3)}; across the three shapes the largest error is ${pct(worst)}.`
          : `${pct(Math.abs(ratio - 1) - 0.25)} outside the band: the estimate (${fmt(main.estimatedBytes / main.bufferedSpans)} B/span) is off from what a span retains (${fmt(main.retainedBytes / main.bufferedSpans)} B/span).`,
    },
  ];
  const markdown = `
Run with \`--expose-gc\`. For each shape, a fresh \`TracerProvider\` with the
recorder (\`maxBytes\` 16 MiB, \`minAgeMs\` one hour so only the byte bound
applies, no triggers) is fed ${fmt(results[0]?.spansFed ?? 0)} spans. *Retained*
is \`heapUsed\` after a full GC with the buffer full, minus \`heapUsed\` after
a full GC once the recorder and its provider are gone: everything the buffer
keeps alive, its own arrays included. *Estimated* is \`stats().bufferedBytes\`,
the sum of \`estimateSpanBytes\` over the buffered spans. The error is
estimated / retained (1 is exact; above 1 the recorder holds less than
\`maxBytes\`).

${renderTable(
  [
    'span shape',
    'spans fed',
    'spans buffered',
    'retained',
    'retained / maxBytes',
    'estimated',
    'retained B/span',
    'estimated B/span',
    'estimate error',
  ],
  rows,
)}
`;
  return {
    title: '3. Memory',
    markdown,
    targets,
    headlines: [
      `Memory: a full 16 MiB buffer retains ${fmt(main.retainedBytes / 2 ** 20, 1)} MiB of heap (${pct(ratio, 0)} of maxBytes); the byte estimate is within ${pct(worst, 0)} of the measured heap across small spans, the scenario's spans and spans with events.`,
    ],
  };
}

if (isMain(import.meta.url) && ensureExposeGc()) await main(run);

// Scenario 3: memory. Feeds 1M spans through a recorder with maxBytes 16 MiB
// and measures what the full ring really retains: heap used plus array
// buffers (the ring is off-heap) after a full GC with the ring full, minus
// the same with the recorder gone. Spans held per MiB and bytes per span are
// read from stats(). Three span shapes: the 6-span traces of scenario 1,
// small spans and spans with events.
import type { Tracer } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { ensureExposeGc, gc, isMain, log, main, type RunOptions, yieldToLoop } from './lib/cli.js';
import { DiscardingExporter } from './lib/discarding-exporter.js';
import { renderTable, type ScenarioResult, type Target } from './lib/report.js';
import { fmt } from './lib/stats.js';
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

interface Measurement {
  shape: Shape;
  spansFed: number;
  bufferedSpans: number;
  /** Encoded bytes of the buffered records (stats().bufferedBytes). */
  recordBytes: number;
  /** Heap + array buffers the full recorder keeps alive. */
  retainedBytes: number;
}

async function memoryAfterGc(): Promise<number> {
  // Twice, with a turn of the loop between, so weak callbacks and
  // finalization run and the second collection sees the settled heap.
  gc();
  await yieldToLoop();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function measure(shape: Shape, spans: number): Promise<Measurement> {
  const { emit, spansPerCall } = SHAPES[shape];
  let provider: TracerProvider | undefined;
  const before = await memoryAfterGc();
  let recorder: FlightRecorderSpanProcessor | undefined = new FlightRecorderSpanProcessor({
    exporter: new DiscardingExporter(),
    triggers: [],
    maxBytes: MAX_BYTES,
    // Only the byte bound applies: nothing ages out during the run.
    minAgeMs: 3_600_000,
  });
  provider = new TracerProvider({ spanProcessors: [recorder] });
  const tracer = provider.getTracer('bench-memory', '1.0.0');
  const calls = Math.ceil(spans / spansPerCall);
  for (let i = 0; i < calls; i++) {
    emit(tracer, i);
    if (i % 1000 === 999) await yieldToLoop();
  }
  const full = await memoryAfterGc();
  const stats = recorder.stats();
  await provider.shutdown();
  recorder = undefined;
  provider = undefined;
  const empty = Math.min(before, await memoryAfterGc());
  return {
    shape,
    spansFed: calls * spansPerCall,
    bufferedSpans: stats.bufferedSpans,
    recordBytes: stats.bufferedBytes,
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
      `memory ${shape}: ${m.bufferedSpans} spans buffered (${fmt(m.bufferedSpans / 16)} per MiB), ${fmt(m.recordBytes / m.bufferedSpans)} B/span encoded, retained ${fmt(m.retainedBytes / 2 ** 20, 2)} MiB`,
    );
  }
  return report(results, options);
}

function report(results: Measurement[], options: RunOptions): ScenarioResult {
  const mib = MAX_BYTES / 2 ** 20;
  const rows = results.map((m) => [
    SHAPES[m.shape].label,
    fmt(m.spansFed),
    fmt(m.bufferedSpans),
    fmt(m.bufferedSpans / mib),
    fmt(m.recordBytes / m.bufferedSpans),
    `${fmt(m.retainedBytes / 2 ** 20, 2)} MiB`,
    fmt(m.retainedBytes / MAX_BYTES, 3),
  ]);
  const main = results.find((m) => m.shape === 'scenario')!;
  const perMiB = main.bufferedSpans / mib;
  const ratio = main.retainedBytes / MAX_BYTES;
  const targets: Target[] = [
    {
      target: 'Spans held per MiB (scenario 1): must ≥ 2,500, aim ≥ 4,000',
      figure: `${fmt(perMiB)} spans per MiB (${fmt(main.recordBytes / main.bufferedSpans)} encoded B/span)`,
      met: perMiB >= 2_500 && !options.smoke,
      note: options.smoke
        ? 'smoke run: the ring is not full, nothing is measured.'
        : perMiB >= 4_000
          ? 'aim met.'
          : `must met, aim missed by ${fmt(4_000 - perMiB)} spans per MiB: keys and names are interned, but string values are copied as they are (the scenario's user agent and SQL text alone take ~130 B per span that carries them).`,
    },
    {
      target: 'Heap retained with a full 16 MiB buffer / maxBytes: must ≤ 1.10, aim ≤ 1.05',
      figure: `${fmt(main.retainedBytes / 2 ** 20, 2)} MiB for maxBytes 16 MiB: ${fmt(ratio, 3)}`,
      met: ratio <= 1.1 && !options.smoke,
      note: options.smoke
        ? 'smoke run: the ring is not full, nothing is measured.'
        : `The ring and its index are exactly maxBytes; on top: the intern tables (two laps' keys and names), the resource and scope table, the open-trace map, and the closed-trace table (320 KiB).${ratio <= 1.05 ? ' Aim met.' : ''}`,
    },
  ];
  const markdown = `
Run with \`--expose-gc\`. For each shape, a fresh \`TracerProvider\` with the
recorder (\`maxBytes\` 16 MiB, \`minAgeMs\` one hour so only the byte bound
applies, no triggers) is fed ${fmt(results[0]?.spansFed ?? 0)} spans. *Retained*
is \`heapUsed + arrayBuffers\` after a full GC with the ring full, minus the
same before the recorder was made: everything the recorder keeps alive, its
off-heap ring included. *Encoded B/span* is \`stats().bufferedBytes\` (the
records' exact bytes) over the spans buffered; the ring's index adds 23 B a
record, sized for records of 160 B.

${renderTable(
  [
    'span shape',
    'spans fed',
    'spans buffered',
    'spans per MiB',
    'encoded B/span',
    'retained',
    'retained / maxBytes',
  ],
  rows,
)}
`;
  return {
    title: '3. Memory',
    markdown,
    targets,
    headlines: [
      `Memory: a full 16 MiB ring holds ${fmt(perMiB)} scenario spans per MiB (${fmt(main.recordBytes / main.bufferedSpans)} B each) and retains ${fmt(main.retainedBytes / 2 ** 20, 2)} MiB (${fmt(ratio, 3)} × maxBytes).`,
    ],
  };
}

if (isMain(import.meta.url) && ensureExposeGc()) await main(run);

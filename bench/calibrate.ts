// Measures what one buffered span retains on the heap for controlled span
// shapes, next to what estimateSpanBytes says, to fit the constants of
// src/size-estimate.ts. Not part of `npm run bench`; run it alone:
//   node --expose-gc --import tsx bench/calibrate.ts
import {
  type Attributes,
  ROOT_CONTEXT,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { type ReadableSpan, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { ensureExposeGc, gc, isMain, yieldToLoop } from './lib/cli.js';
import { renderTable } from './lib/report.js';
import { fmt } from './lib/stats.js';
import { emitEventfulSpan, emitSmallSpan, emitTrace, SPANS_PER_TRACE } from './lib/workload.js';

const SPANS = 60_000;

class DiscardingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

const constant = (n: number): Attributes => {
  const a: Attributes = {};
  for (let k = 0; k < n; k++) a[`attr.key.${k}`] = 'constant value';
  return a;
};
const CONSTANT_10 = constant(10);
const LINKED = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
};

/** A flat string of `length` one-byte characters that no other span shares. */
function flat(prefix: string, length: number): string {
  return Buffer.from(prefix.padEnd(length, 'x')).toString('latin1');
}

function unique(i: number, n: number, length: number): Attributes {
  const a: Attributes = {};
  for (let k = 0; k < n; k++) a[`attr.key.${k}`] = flat(`${i}:${k}:`, length);
  return a;
}

/** Each shape emits `spans` spans; the `child` shapes emit a root and children. */
const SHAPES: Record<string, (t: Tracer, i: number) => void> = {
  'root, no attributes': (t) => t.startSpan('op').end(),
  'root, 10 constant strings': (t) => t.startSpan('op', { attributes: CONSTANT_10 }).end(),
  'root, 10 unique strings of 8': (t, i) =>
    t.startSpan('op', { attributes: unique(i, 10, 8) }).end(),
  'root, 10 unique strings of 40': (t, i) =>
    t.startSpan('op', { attributes: unique(i, 10, 40) }).end(),
  'root, 10 small integers': (t, i) => {
    const a: Attributes = {};
    for (let k = 0; k < 10; k++) a[`attr.key.${k}`] = i + k;
    t.startSpan('op', { attributes: a }).end();
  },
  'root, 10 doubles': (t, i) => {
    const a: Attributes = {};
    for (let k = 0; k < 10; k++) a[`attr.key.${k}`] = i + k + 0.5;
    t.startSpan('op', { attributes: a }).end();
  },
  'root, 10 booleans': (t, i) => {
    const a: Attributes = {};
    for (let k = 0; k < 10; k++) a[`attr.key.${k}`] = (i + k) % 2 === 0;
    t.startSpan('op', { attributes: a }).end();
  },
  'root, 1 event, no attributes': (t) => {
    const s = t.startSpan('op');
    s.addEvent('event');
    s.end();
  },
  'root, 3 events, 2 constant attributes each': (t) => {
    const s = t.startSpan('op');
    for (let k = 0; k < 3; k++) s.addEvent('event', { a: 'constant', b: 1 });
    s.end();
  },
  'root, 30 unique strings of 8': (t, i) =>
    t.startSpan('op', { attributes: unique(i, 30, 8) }).end(),
  'root, 100 unique strings of 8': (t, i) =>
    t.startSpan('op', { attributes: unique(i, 100, 8) }).end(),
  'root, 10 events, no attributes': (t) => {
    const s = t.startSpan('op');
    for (let k = 0; k < 10; k++) s.addEvent('event');
    s.end();
  },
  'root, 1 link': (t) => {
    const s = t.startSpan('op');
    s.addLink({ context: LINKED });
    s.end();
  },
  'root, 4 links': (t) => {
    const s = t.startSpan('op');
    for (let k = 0; k < 4; k++) s.addLink({ context: LINKED });
    s.end();
  },
  'root, unique name of 24': (t, i) => t.startSpan(flat(`GET /users/${i}`, 24)).end(),
  'scenario 1 trace (6 spans)': (t, i) => emitTrace(t, i, false),
  'small span': emitSmallSpan,
  'span with 10 attributes, 3 events': emitEventfulSpan,
  'root, error status with message': (t) => {
    const s = t.startSpan('op');
    s.setStatus({ code: SpanStatusCode.ERROR, message: 'constant message' });
    s.end();
  },
  'root + 4 children, no attributes': (t) => {
    const root = t.startSpan('root');
    const ctx = trace.setSpan(ROOT_CONTEXT, root);
    for (let k = 0; k < 4; k++) t.startSpan('child', {}, ctx).end();
    root.end();
  },
};
const SPANS_PER_CALL: Record<string, number> = {
  'root + 4 children, no attributes': 5,
  'scenario 1 trace (6 spans)': SPANS_PER_TRACE,
};

async function heapAfterGc(): Promise<number> {
  gc();
  await yieldToLoop();
  gc();
  return process.memoryUsage().heapUsed;
}

async function measure(emit: (t: Tracer, i: number) => void, perCall: number) {
  let recorder: FlightRecorderSpanProcessor | undefined = new FlightRecorderSpanProcessor({
    exporter: new DiscardingExporter(),
    triggers: [],
    maxBytes: 2 ** 40,
    minAgeMs: 3_600_000,
  });
  let provider: TracerProvider | undefined = new TracerProvider({ spanProcessors: [recorder] });
  const tracer = provider.getTracer('calibrate');
  let estimated = 0;
  for (let i = 0; i < SPANS / perCall; i++) emit(tracer, i);
  const full = await heapAfterGc();
  const stats = recorder.stats();
  estimated = stats.bufferedBytes;
  await provider.shutdown();
  recorder = undefined;
  provider = undefined;
  const empty = await heapAfterGc();
  return { spans: stats.bufferedSpans, retained: full - empty, estimated };
}

if (isMain(import.meta.url) && ensureExposeGc()) {
  const rows: string[][] = [];
  for (const [name, emit] of Object.entries(SHAPES)) {
    const m = await measure(emit, SPANS_PER_CALL[name] ?? 1);
    rows.push([
      name,
      fmt(m.retained / m.spans),
      fmt(m.estimated / m.spans),
      fmt(m.estimated / m.retained, 3),
    ]);
  }
  process.stdout.write(
    `${renderTable(['shape', 'retained B/span', 'estimated B/span', 'estimated / retained'], rows)}\n`,
  );
}

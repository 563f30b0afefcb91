import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { context, type Span, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import fc from 'fast-check';
import { FlightRecorderSpanProcessor, SNAPSHOT_ID_ATTRIBUTE } from '../src/index.js';
import { logRingLayout } from '../src/logs/log-ring.js';
import { attr, makeLogging } from './helpers/logs.js';
import { TestExporter } from './helpers/test-exporter.js';
import { fail, makeTracing } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;
beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 }));
afterEach(() => mock.timers.reset());

type Step =
  | { op: 'log'; trace: number; warn: boolean; size: number }
  | { op: 'loose'; size: number }
  | { op: 'end'; trace: number; fails: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant('log' as const),
    trace: fc.integer({ min: 0, max: 4 }),
    warn: fc.boolean(),
    size: fc.integer({ min: 0, max: 300 }),
  }),
  fc.record({ op: fc.constant('loose' as const), size: fc.integer({ min: 0, max: 300 }) }),
  fc.record({
    op: fc.constant('end' as const),
    trace: fc.integer({ min: 0, max: 4 }),
    fails: fc.boolean(),
  }),
);

async function run(steps: readonly Step[], logMaxBytes: number) {
  const spans = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({
    exporter: spans,
    flushScope: 'trace',
    triggers: ['error'],
    flushOnErrorLog: false,
    logMaxBytes,
  });
  const tracing = makeTracing(recorder);
  const logging = makeLogging(recorder);
  const roots = new Map<number, Span>();
  /** Bodies logged inside each trace (by trace id), and which trace ids failed. */
  const logged = new Map<string, string[]>();
  const failed = new Set<string>();
  const warned = new Set<string>();
  let n = 0;
  let maxBuffered = 0;
  for (const step of steps) {
    if (step.op === 'end') {
      const root = roots.get(step.trace);
      if (root === undefined) continue;
      roots.delete(step.trace);
      if (step.fails) {
        fail(root);
        failed.add(root.spanContext().traceId);
      }
      root.end();
      continue;
    }
    const body = `#${n++} ${'x'.repeat(step.size)}`;
    if (step.op === 'loose') {
      logging.logger.emit({ severityNumber: SeverityNumber.DEBUG, body });
    } else {
      let root = roots.get(step.trace);
      if (root === undefined) {
        root = tracing.start(`trace ${step.trace}`, Date.now());
        roots.set(step.trace, root);
      }
      const traceId = root.spanContext().traceId;
      // A trace that already failed and ended is not logged into again.
      if (failed.has(traceId)) continue;
      const list = logged.get(traceId) ?? [];
      list.push(body);
      logged.set(traceId, list);
      if (step.warn) warned.add(body);
      logging.logger.emit({
        severityNumber: step.warn ? SeverityNumber.WARN : SeverityNumber.DEBUG,
        body,
        context: trace.setSpan(context.active(), root),
      });
    }
    maxBuffered = Math.max(maxBuffered, recorder.stats().bufferedLogBytes);
  }
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(1);
    await recorder.forceFlush();
    await logging.processor.forceFlush();
  }
  const result = {
    spans: spans.spans,
    records: logging.exporter.records,
    stats: recorder.stats(),
    logged,
    failed,
    warned,
    maxBuffered,
  };
  await recorder.shutdown();
  await logging.processor.shutdown();
  return result;
}

test('random interleavings: every flushed trace carries exactly its own buffered log records, marked with its flush; nothing twice', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { maxLength: 60 }), async (steps) => {
      const r = await run(steps, 1 << 20);
      assert.equal(r.stats.logsEvictedByBytes, 0);
      const bodies = r.records.map((rec) => rec.body?.stringValue);
      assert.equal(new Set(bodies).size, bodies.length, 'no record is sent twice');
      const snapshotOf = new Map<string, unknown>();
      for (const span of r.spans) {
        snapshotOf.set(span.spanContext().traceId, span.attributes[SNAPSHOT_ID_ATTRIBUTE]);
      }
      for (const [traceId, list] of r.logged) {
        const sent = r.records.filter((rec) => rec.traceId === traceId);
        const marked = sent.filter((rec) => attr(rec, SNAPSHOT_ID_ATTRIBUTE) !== undefined);
        const passed = sent.filter((rec) => attr(rec, SNAPSHOT_ID_ATTRIBUTE) === undefined);
        // WARN records go out at once, unmarked, whatever the trace does.
        assert.deepEqual(
          passed.map((rec) => rec.body?.stringValue).sort(),
          list.filter((b) => r.warned.has(b)).sort(),
        );
        if (r.failed.has(traceId)) {
          // Span events: every buffered record of the trace once, on its root (where it was emitted).
          const events = r.spans
            .filter((span) => span.spanContext().traceId === traceId)
            .flatMap((span) => span.events.map((e) => e.name));
          assert.deepEqual([...events].sort(), [...list].sort(), 'each record once as an event');
          assert.deepEqual(
            marked.map((rec) => rec.body?.stringValue).sort(),
            list.filter((b) => !r.warned.has(b)).sort(),
          );
          for (const rec of marked) {
            assert.equal(attr(rec, SNAPSHOT_ID_ATTRIBUTE), snapshotOf.get(traceId));
          }
        } else {
          assert.equal(marked.length, 0, 'a trace that did not trigger sends nothing marked');
        }
      }
      // Log records outside any trace never leave with a trace flush.
      assert.ok(r.records.every((rec) => rec.traceId !== undefined));
    }),
    { numRuns: 60 },
  );
});

test('random interleavings in a small log ring: the byte bound holds and nothing is sent twice', async () => {
  const logMaxBytes = 2048;
  const { ringBytes } = logRingLayout(logMaxBytes);
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { maxLength: 80 }), async (steps) => {
      const r = await run(steps, logMaxBytes);
      assert.ok(r.maxBuffered <= ringBytes, `${r.maxBuffered} <= ${ringBytes}`);
      const bodies = r.records.map((rec) => rec.body?.stringValue);
      assert.equal(new Set(bodies).size, bodies.length);
      const s = r.stats;
      const marked = r.records.filter((rec) => attr(rec, SNAPSHOT_ID_ATTRIBUTE) !== undefined);
      // Each recorded record is buffered, evicted, or taken by a flush (sent marked, or earlier at once).
      assert.ok(
        s.bufferedLogs + s.logsEvictedByBytes + s.logsEvictedByAge + marked.length <=
          s.logsRecorded,
      );
    }),
    { numRuns: 40 },
  );
});

import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import {
  FlightRecorderSpanProcessor,
  type FlushInfo,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { TestExporter } from './helpers/test-exporter.js';
import { fail, makeTracing, remoteParent, traceIdOf } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;
const THRESHOLD = 100;

/** One span of a generated trace: its parent (an earlier index), start offset and duration. */
interface SpanPlan {
  parent: number;
  startAfterParent: number;
  duration: number;
}

interface TracePlan {
  start: number;
  remote: boolean;
  error: boolean;
  /**
   * Another hop of an earlier plan's trace (a retry, a second call from
   * upstream): its root's remote parent is in that plan's trace, when that
   * plan's root started first.
   */
  rejoin: number | undefined;
  spans: SpanPlan[];
}

const spanPlan = (i: number): fc.Arbitrary<SpanPlan> =>
  fc.record({
    parent: fc.nat(Math.max(0, i - 1)),
    startAfterParent: fc.nat(50),
    // Children may end after their parents: late spans.
    duration: fc.nat(400),
  });

/** Traces of one local root each, or (`rejoin`) also hops of an earlier plan's trace. */
const tracePlan = (rejoin: boolean): fc.Arbitrary<TracePlan> =>
  fc
    .record({
      start: fc.nat(2_000),
      remote: fc.boolean(),
      error: fc.boolean(),
      // Left out, not constant, without hops: a seed replays the runs it did before.
      ...(rejoin ? { rejoin: fc.option(fc.nat(7), { nil: undefined }) } : {}),
      size: fc.integer({ min: 1, max: 6 }),
    })
    .chain(({ size, ...rest }) =>
      fc
        .tuple(...Array.from({ length: size }, (_, i) => spanPlan(i)))
        .map((spans) => ({ rejoin: undefined, ...rest, spans })),
    );

const config = fc.record({
  maxBytes: fc.constantFrom(2_500, 6_000, 20_000, 10_000_000),
  minAgeMs: fc.constantFrom(0, 50, 300, 5_000),
  flushScope: fc.constantFrom('window' as const, 'trace' as const),
  minFlushIntervalMs: fc.constantFrom(0, 200, 1_000_000),
});

interface Event {
  time: number;
  kind: 'start' | 'end';
  trace: number;
  index: number;
}

function schedule(plans: TracePlan[]): Event[] {
  const events: Event[] = [];
  plans.forEach((plan, trace) => {
    const starts: number[] = [];
    plan.spans.forEach((s, index) => {
      const start = index === 0 ? plan.start : starts[s.parent]! + s.startAfterParent;
      starts.push(start);
      events.push({ time: start, kind: 'start', trace, index });
      events.push({ time: start + s.duration, kind: 'end', trace, index });
    });
  });
  // Starts before ends at the same time, and parents (lower index) first.
  return events.sort(
    (a, b) =>
      a.time - b.time ||
      (a.kind === b.kind ? 0 : a.kind === 'start' ? -1 : 1) ||
      a.trace - b.trace ||
      a.index - b.index,
  );
}

const endMs = (s: ReadableSpan) => s.endTime[0] * 1e3 + s.endTime[1] / 1e6;
const spanId = (s: ReadableSpan | Span) => s.spanContext().spanId;

beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
afterEach(() => mock.timers.reset());

const invariants = (rejoin = true) =>
  fc.asyncProperty(
    fc.array(tracePlan(rejoin), { minLength: 1, maxLength: 8 }),
    config,
    async (plans, cfg) => {
      mock.timers.setTime(T0);
      const exporter = new TestExporter();
      const flushes: { info: FlushInfo; at: number }[] = [];
      let now = T0;
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        latencyThresholdMs: THRESHOLD,
        ...cfg,
        onFlush: (info) => flushes.push({ info, at: now }),
      });
      const t = makeTracing(recorder);
      const spans: Span[][] = plans.map(() => []);
      const endedAt = new Map<string, number>();
      const rootOpen = plans.map(() => false);
      /** Spans each flush must have exported: what its trace had buffered, and the trigger span. */
      const mustExport: Set<string>[] = [];

      for (const e of schedule(plans)) {
        now = T0 + e.time;
        mock.timers.setTime(now);
        const plan = plans[e.trace]!;
        if (e.kind === 'start') {
          const joined = plan.rejoin === undefined ? undefined : spans[plan.rejoin]?.[0];
          const parent =
            e.index === 0
              ? joined !== undefined && plan.rejoin! < e.trace
                ? remoteParent(traceIdOf(joined))
                : plan.remote
                  ? remoteParent((e.trace + 1).toString(16).padStart(32, 'a'))
                  : undefined
              : spans[e.trace]![plan.spans[e.index]!.parent];
          spans[e.trace]![e.index] = t.start(`t${e.trace}s${e.index}`, now, parent);
          if (e.index === 0) rootOpen[e.trace] = true;
          continue;
        }
        const span = spans[e.trace]![e.index]!;
        const traceId = traceIdOf(span);
        const before = recorder
          ._windowSpans()
          .filter((s) => traceIdOf(s) === traceId)
          .map(spanId);
        const flushesBefore = flushes.length;
        if (e.index === 0 && plan.error) fail(span);
        span.end(now);
        endedAt.set(spanId(span), now);
        if (e.index === 0) rootOpen[e.trace] = false;
        for (const f of flushes.slice(flushesBefore)) {
          assert.equal(f.info.traceId, traceId);
          mustExport.push(new Set([...before, spanId(span)]));
        }

        // Invariants after every span ends.
        const stats = recorder.stats();
        assert.ok(stats.bufferedBytes <= cfg.maxBytes, `${stats.bufferedBytes} > ${cfg.maxBytes}`);
        for (const s of recorder._windowSpans()) {
          if (now - endMs(s) <= cfg.minAgeMs) continue;
          // Pinned while a local root of its trace (any hop's) is open.
          const open = spans.some((list, k) => rootOpen[k] && traceIdOf(list[0]!) === traceIdOf(s));
          assert.ok(open, `${s.name} is ${now - endMs(s)} ms old and its trace is closed`);
        }
        await recorder.forceFlush();
      }
      await recorder.forceFlush();
      const exported = exporter.spans;
      const exportedIds = exported.map(spanId);

      // No span is exported twice.
      assert.equal(new Set(exportedIds).size, exportedIds.length);
      // A flushed trace contains every span of it that was still buffered, and the trigger.
      for (const expected of mustExport) {
        for (const id of expected)
          assert.ok(exportedIds.includes(id), `flushed span ${id} missing`);
      }
      // Spans of a flushed trace that ended after its flush follow it.
      for (const { info, at } of flushes) {
        // Every hop of the trace: one that came back after the flush follows it too.
        const trace = spans.filter((list) => traceIdOf(list[0]!) === info.traceId).flat();
        for (const s of trace) {
          if ((endedAt.get(spanId(s)) ?? -1) > at) {
            assert.ok(
              exportedIds.includes(spanId(s)),
              `late span ${s.spanContext().spanId} missing`,
            );
          }
        }
      }
      // Every exported span carries its flush's marks.
      const ids = new Set(flushes.map((f) => f.info.snapshotId));
      for (const s of exported) {
        assert.ok(ids.has(String(s.attributes[SNAPSHOT_ID_ATTRIBUTE])));
        assert.ok(['latency', 'error'].includes(String(s.attributes[TRIGGER_ATTRIBUTE])));
      }
      // Nothing is lost or invented: recorded = buffered + exported + evicted.
      const stats = recorder.stats();
      assert.equal(stats.spansDropped, 0);
      assert.equal(
        stats.spansRecorded,
        stats.bufferedSpans +
          stats.spansExported +
          stats.spansEvictedByAge +
          stats.spansEvictedByBytes,
      );
      await recorder.shutdown();
    },
  );

test('random span trees, end orders and clocks, with traces served here more than once, keep every buffer invariant', async () => {
  await fc.assert(invariants(), { numRuns: 200 });
});

test('the runs of seed -317139932, reported once as "flushed span missing", keep every invariant', async () => {
  // Replayed on SDK 2.x and 3.x without a failure; kept so that sequence stays covered.
  await fc.assert(invariants(false), { numRuns: 200, seed: -317139932 });
});

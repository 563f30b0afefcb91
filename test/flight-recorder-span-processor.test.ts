import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { context, TraceFlags, trace } from '@opentelemetry/api';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type ReadableSpan, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  type FlightRecorderOptions,
  FlightRecorderSpanProcessor,
  type FlushInfo,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { TestExporter } from './helpers/test-exporter.js';
import { spanArb } from './helpers/span-arbitrary.js';
import fc from 'fast-check';
import {
  captureDiag,
  fail,
  makeTracing,
  names,
  recordOnlySampler,
  remoteParent,
  settle,
  traceIdOf,
} from './helpers/tracing.js';

const T0 = 1_800_000_000_000;

function setup(options: FlightRecorderOptions = {}, sampler?: Parameters<typeof makeTracing>[1]) {
  const exporter = new TestExporter();
  const flushes: FlushInfo[] = [];
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    onFlush: (f) => flushes.push(f),
    ...options,
  });
  return { exporter, recorder, flushes, ...makeTracing(recorder, sampler) };
}

/** A fast trace: a root with `children` children, all within 10 ms of `time`. */
function fastTrace(t: ReturnType<typeof makeTracing>, name: string, time: number, children = 1) {
  const root = t.start(name, time);
  for (let i = 0; i < children; i++) t.start(`${name}.child${i}`, time, root).end(time + 5);
  root.end(time + 10);
  return traceIdOf(root);
}

/** Fakes timers as well as Date, from T0. */
function fakeTimers(): void {
  mock.timers.reset();
  mock.timers.enable({ apis: ['Date', 'setTimeout', 'setImmediate'], now: T0 });
}

beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
afterEach(() => mock.timers.reset());

describe('FlightRecorderSpanProcessor', () => {
  describe('recording', () => {
    test('the smallest buffer allowed, 1 KiB, still holds a typical trace', async () => {
      const t = setup({ maxBytes: 1024, triggers: ['error'], runtimeEvents: false });
      const root = t.start('GET /users/:id', T0);
      root.setAttributes({ 'http.request.method': 'GET', 'http.route': '/users/:id' });
      t.start('SELECT users', T0, root)
        .setAttribute('db.system.name', 'postgresql')
        .end(T0 + 2);
      const held = t.recorder.stats();
      assert.equal(held.bufferedSpans, 1);
      assert.ok(held.bufferedBytes > 0 && held.bufferedBytes <= 1024, `${held.bufferedBytes}`);
      fail(root).end(T0 + 5);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), ['GET /users/:id', 'SELECT users']);
    });

    test('buffers every ended span, sampled or record-only, and exports nothing without a trigger', async () => {
      for (const sampler of [undefined, recordOnlySampler]) {
        const t = setup({}, sampler);
        fastTrace(t, 'a', T0, 3);
        fastTrace(t, 'b', T0 + 1, 2);
        await t.recorder.forceFlush();
        const stats = t.recorder.stats();
        assert.equal(stats.spansRecorded, 7);
        assert.equal(stats.bufferedSpans, 7);
        assert.ok(stats.bufferedBytes > 0);
        assert.equal(t.exporter.spans.length, 0);
        await t.recorder.shutdown();
      }
    });

    test('onStart and onEnd never throw, even for a broken span', () => {
      const diagnostics = captureDiag();
      try {
        const { recorder } = setup();
        const broken = {
          spanContext: () => {
            throw new Error('broken span');
          },
        } as unknown as ReadableSpan;
        assert.doesNotThrow(() => recorder.onEnd(broken));
        assert.doesNotThrow(() => recorder.onEnd(broken));
        assert.doesNotThrow(() => recorder.onStart(broken as never, context.active()));
        assert.equal(diagnostics.messages.length, 1, 'one message, not one per span');
        assert.match(diagnostics.messages[0]!.message, /broken span/);
      } finally {
        diagnostics.restore();
      }
    });

    test('FLIGHT_RECORDER_DISABLED=true records and exports nothing', async () => {
      process.env.FLIGHT_RECORDER_DISABLED = 'true';
      try {
        const t = setup({ latencyThresholdMs: 0 });
        fastTrace(t, 'a', T0);
        const result = await t.recorder.snapshot();
        assert.equal(result.spans, 0);
        assert.equal(t.flushes.length, 0);
        assert.equal(t.recorder.stats().spansRecorded, 0);
        assert.equal(t.exporter.spans.length, 0);
      } finally {
        delete process.env.FLIGHT_RECORDER_DISABLED;
      }
    });
  });

  describe('bounds', () => {
    test('spans older than minAgeMs are discarded', () => {
      const t = setup({ minAgeMs: 1_000 });
      fastTrace(t, 'old', T0);
      // The recorder's clock never runs ahead of the wall clock: move both.
      mock.timers.setTime(T0 + 510);
      fastTrace(t, 'new', T0 + 500);
      assert.deepEqual(names(t.recorder._windowSpans()), [
        'new',
        'new.child0',
        'old',
        'old.child0',
      ]);
      mock.timers.setTime(T0 + 1_011);
      assert.deepEqual(names(t.recorder._windowSpans()), ['new', 'new.child0']);
      mock.timers.setTime(T0 + 1_505);
      assert.deepEqual(
        names(t.recorder._windowSpans()),
        ['new', 'new.child0'],
        'exactly minAgeMs old',
      );
      mock.timers.setTime(T0 + 1_511);
      assert.deepEqual(names(t.recorder._windowSpans()), []);
      assert.equal(t.recorder.stats().spansEvictedByAge, 4);
    });

    test('spans of a trace whose local root is open stay past minAgeMs, then go when it closes', () => {
      const t = setup({ minAgeMs: 1_000, triggers: [] });
      const root = t.start('long', T0);
      t.start('early', T0, root).end(T0 + 1);
      fastTrace(t, 'other', T0 + 2);
      mock.timers.setTime(T0 + 5_010);
      fastTrace(t, 'later', T0 + 5_000);
      assert.deepEqual(names(t.recorder._windowSpans()), ['early', 'later', 'later.child0']);
      mock.timers.setTime(T0 + 5_100);
      root.end(T0 + 5_100);
      assert.deepEqual(names(t.recorder._windowSpans()), ['later', 'later.child0', 'long']);
      mock.timers.setTime(T0 + 7_000);
      assert.deepEqual(names(t.recorder._windowSpans()), []);
    });

    test('after the wall clock steps back, spans still age out and window flushes come back', async () => {
      const HOUR = 3_600_000;
      const t = setup({ minAgeMs: 1_000, latencyThresholdMs: 100, minFlushIntervalMs: 2_000 });
      // The clock ran an hour ahead: spans end then, and one triggers.
      mock.timers.setTime(T0 + HOUR);
      fastTrace(t, 'ahead', T0 + HOUR);
      t.start('slow-ahead', T0 + HOUR).end(T0 + HOUR + 200);
      // NTP steps it back to the right time.
      mock.timers.setTime(T0 + 300);
      fastTrace(t, 'after', T0 + 300);
      assert.deepEqual(names(t.recorder._windowSpans()), ['after', 'after.child0']);
      // The recorder's clock goes on at the wall clock's pace: 1 s later the
      // spans ended after the step are past minAgeMs.
      mock.timers.setTime(T0 + 1_400);
      assert.deepEqual(names(t.recorder._windowSpans()), []);
      assert.equal(t.recorder.stats().spansEvictedByAge, 2);
      // 2 s after the first window flush, a trigger flushes the window again.
      mock.timers.setTime(T0 + 2_600);
      fastTrace(t, 'later', T0 + 2_300);
      t.start('slow-later', T0 + 2_400).end(T0 + 2_600);
      await t.recorder.forceFlush();
      assert.deepEqual(
        t.flushes.map((f) => [f.scope, f.spans]),
        [
          ['window', 3],
          ['window', 3],
        ],
      );
    });

    test('a span ending long before the others does not move the clock back or on', () => {
      const t = setup({ minAgeMs: 1_000, triggers: [] });
      mock.timers.setTime(T0 + 10_000);
      fastTrace(t, 'now', T0 + 9_990);
      t.start('from-the-past', T0).end(T0 + 10);
      mock.timers.setTime(T0 + 10_500);
      assert.deepEqual(names(t.recorder._windowSpans()), ['from-the-past', 'now', 'now.child0']);
      mock.timers.setTime(T0 + 11_001);
      assert.deepEqual(names(t.recorder._windowSpans()), []);
    });

    test('a slow root exports spans that outlived minAgeMs while it ran', async () => {
      const t = setup({ minAgeMs: 1_000, latencyThresholdMs: 3_000, flushScope: 'trace' });
      const root = t.start('slow', T0);
      t.start('step1', T0, root).end(T0 + 100);
      t.start('step2', T0 + 100, root).end(T0 + 4_000);
      root.end(T0 + 4_100);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), ['slow', 'step1', 'step2']);
    });

    test('open spans tracked for crash dumps are bounded, by what a dump writes; the oldest started go first', () => {
      const t = setup();
      const open = t.recorder._trackOpenSpans();
      const first = t.start('never ends', T0);
      for (let i = 0; i < 10_004; i++) t.start(`open${i}`, T0);
      assert.equal(open.size, 10_000);
      assert.ok(!open.has(first as never));
    });

    test('buffered bytes never exceed maxBytes; the oldest go first', () => {
      const t = setup({ maxBytes: 20_000, triggers: [] });
      for (let i = 0; i < 100; i++) fastTrace(t, `t${i}`, T0 + i);
      const stats = t.recorder.stats();
      assert.ok(stats.bufferedBytes <= 20_000, `${stats.bufferedBytes} > 20000`);
      assert.ok(stats.spansEvictedByBytes > 0);
      assert.equal(stats.bufferedSpans + stats.spansEvictedByBytes, 200);
      const kept = names(t.recorder._windowSpans());
      assert.ok(kept.includes('t99'));
      assert.ok(!kept.includes('t0'));
    });

    test('maxBytes evicts pinned spans too, oldest first', () => {
      const t = setup({ maxBytes: 8_000, minAgeMs: 10, triggers: [] });
      const root = t.start('long', T0);
      t.start('pinned', T0, root).end(T0 + 1);
      fastTrace(t, 'x', T0 + 100);
      assert.ok(names(t.recorder._windowSpans()).includes('pinned'));
      for (let i = 0; i < 200; i++) t.start(`fill${i}`, T0 + 100, root).end(T0 + 100);
      assert.ok(!names(t.recorder._windowSpans()).includes('pinned'));
      assert.ok(t.recorder.stats().bufferedBytes <= 8_000);
      root.end(T0 + 200);
    });
  });

  describe('triggers', () => {
    test('a local root slower than latencyThresholdMs triggers latency; one at the threshold does not', async () => {
      const t = setup({ latencyThresholdMs: 100 });
      const atThreshold = t.start('at', T0);
      atThreshold.end(T0 + 100);
      assert.equal(t.flushes.length, 0);
      const slow = t.start('slow', T0);
      slow.end(T0 + 101);
      assert.deepEqual(
        t.flushes.map((f) => [f.trigger, f.traceId]),
        [['latency', traceIdOf(slow)]],
      );
      assert.deepEqual(t.recorder.stats().triggers, { latency: 1 });
    });

    test('a local root that ends with status ERROR triggers error', () => {
      const t = setup();
      const root = fail(t.start('failed', T0));
      root.end(T0 + 1);
      assert.deepEqual(
        t.flushes.map((f) => f.trigger),
        ['error'],
      );
    });

    test('a slow or failing child span does not trigger; only local roots do', () => {
      const t = setup({ latencyThresholdMs: 100 });
      const root = t.start('root', T0);
      t.start('slow child', T0, root).end(T0 + 1_000);
      fail(t.start('failed child', T0, root)).end(T0 + 1);
      root.end(T0 + 50);
      assert.equal(t.flushes.length, 0);
    });

    test('a span with a remote parent is a local root', () => {
      const t = setup({ latencyThresholdMs: 100 });
      const root = t.start('server', T0, remoteParent('4bf92f3577b34da6a3ce929d0e0e4736'));
      root.end(T0 + 500);
      assert.equal(t.flushes[0]?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    });

    test('triggers: [] turns the built-in triggers off; FLIGHT_RECORDER_TRIGGERS=none does too', () => {
      const a = setup({ triggers: [], latencyThresholdMs: 1 });
      fail(a.start('x', T0)).end(T0 + 10);
      process.env.FLIGHT_RECORDER_TRIGGERS = 'none';
      try {
        const b = setup({ latencyThresholdMs: 1 });
        fail(b.start('x', T0)).end(T0 + 10);
        assert.equal(a.flushes.length + b.flushes.length, 0);
      } finally {
        delete process.env.FLIGHT_RECORDER_TRIGGERS;
      }
    });

    test('triggers: ["error"] ignores latency', () => {
      const t = setup({ triggers: ['error'], latencyThresholdMs: 1 });
      t.start('slow', T0).end(T0 + 10);
      fail(t.start('failed', T0)).end(T0 + 1);
      assert.deepEqual(
        t.flushes.map((f) => f.trigger),
        ['error'],
      );
    });

    test('shouldTrigger fires on any span with the name it returns', async () => {
      const t = setup({
        triggers: [],
        shouldTrigger: (span) => (span.attributes['cache.miss'] ? 'cache-miss' : undefined),
        flushScope: 'trace',
      });
      const root = t.start('root', T0);
      const child = t.start('lookup', T0, root);
      child.setAttribute('cache.miss', true);
      child.end(T0 + 2);
      assert.deepEqual(
        t.flushes.map((f) => [f.trigger, f.traceId]),
        [['cache-miss', traceIdOf(root)]],
      );
      root.end(T0 + 3);
      await t.recorder.forceFlush();
      await settle();
      // The root ended after the flush, so it follows as a late span.
      assert.deepEqual(
        t.exporter.spans.map((s) => [s.name, s.attributes[TRIGGER_ATTRIBUTE]]),
        [
          ['lookup', 'cache-miss'],
          ['root', 'cache-miss'],
        ],
      );
    });

    test('a shouldTrigger that throws is treated as no trigger and warned about once', () => {
      const diagnostics = captureDiag();
      try {
        const t = setup({
          shouldTrigger: () => {
            throw new Error('user bug');
          },
        });
        fastTrace(t, 'a', T0, 3);
        assert.equal(t.flushes.length, 0);
        assert.equal(t.recorder.stats().bufferedSpans, 4);
        assert.equal(diagnostics.messages.filter((m) => /shouldTrigger/.test(m.message)).length, 1);
      } finally {
        diagnostics.restore();
      }
    });

    test('snapshot() flushes the whole window as manual, or under the given reason', async () => {
      const t = setup({ flushScope: 'trace' });
      fastTrace(t, 'a', T0);
      fastTrace(t, 'b', T0);
      const result = await t.recorder.snapshot();
      assert.equal(result.trigger, 'manual');
      assert.equal(result.spans, 4);
      assert.equal(result.traces, 2);
      assert.equal(t.exporter.spans.length, 4);
      assert.ok(t.exporter.spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'manual'));
      fastTrace(t, 'c', T0 + 1);
      assert.equal((await t.recorder.snapshot('deploy')).trigger, 'deploy');
      assert.deepEqual(t.recorder.stats().triggers, { manual: 1, deploy: 1 });
      assert.equal(t.recorder.stats().bufferedSpans, 0);
    });

    test('snapshot() with a reason that is not a string rejects with a TypeError, and the window stays', async () => {
      const t = setup();
      fastTrace(t, 'a', T0, 4);
      for (const reason of [42, null, { trigger: 'x' }]) {
        await assert.rejects(t.recorder.snapshot(reason as never), (error: Error) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /`reason`/);
          assert.match(error.message, new RegExp(String(reason).replace(/[[\]]/g, '.')));
          return true;
        });
      }
      // Nothing was taken from the buffer, nor lost from the counters.
      const stats = t.recorder.stats();
      assert.equal(stats.bufferedSpans, 5);
      assert.equal(stats.flushes, 0);
      assert.equal((await t.recorder.snapshot()).spans, 5);
    });
  });

  describe('flush', () => {
    test('window scope exports the triggering trace and every other buffered span', async () => {
      const t = setup({ latencyThresholdMs: 100 });
      const other = fastTrace(t, 'other', T0, 2);
      const slow = t.start('slow', T0);
      t.start('slow.child', T0, slow).end(T0 + 10);
      slow.end(T0 + 200);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), [
        'other',
        'other.child0',
        'other.child1',
        'slow',
        'slow.child',
      ]);
      assert.deepEqual(
        t.flushes.map((f) => [f.scope, f.traceId, f.spans, f.traces]),
        [['window', traceIdOf(slow), 5, 2]],
      );
      assert.deepEqual(
        t.exporter.spans.filter((s) => s.name.startsWith('other')).map(traceIdOf),
        [other, other, other],
        'the other trace goes out whole',
      );
    });

    test('a window flush counts the triggering trace once, whether or not the window held its other spans', async () => {
      const t = setup({ latencyThresholdMs: 100 });
      fastTrace(t, 'other', T0, 2);
      // A root alone: the window holds nothing else of its trace.
      const lone = t.start('lone', T0);
      lone.end(T0 + 200);
      await t.recorder.forceFlush();
      assert.deepEqual(
        t.flushes.map((f) => [f.scope, f.traceId, f.spans, f.traces]),
        [['window', traceIdOf(lone), 4, 2]],
      );
    });

    test('onFlush runs with tracing suppressed: a failing span it starts is neither recorded nor a trigger', async () => {
      const exporter = new TestExporter();
      const flushes: FlushInfo[] = [];
      const recording: boolean[] = [];
      const alerts: { tracer?: ReturnType<TracerProvider['getTracer']> } = {};
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        triggers: ['error'],
        runtimeEvents: false,
        onFlush: (f) => {
          flushes.push(f);
          // An alert sent over instrumented HTTP, which fails.
          const alert = fail(alerts.tracer!.startSpan('POST /alerts'));
          recording.push(alert.isRecording());
          alert.end();
        },
      });
      const t = makeTracing(recorder);
      alerts.tracer = t.provider.getTracer('alerts');
      fail(t.start('GET /users/:id', T0)).end(T0 + 5);
      await recorder.forceFlush();
      assert.deepEqual(recording, [false]);
      assert.equal(flushes.length, 1, 'one flush, none for the alert');
      assert.equal(recorder.stats().spansRecorded, 1);
      assert.deepEqual(names(exporter.spans), ['GET /users/:id']);
    });

    test('a window flush whose trace id is not a string is still told to onFlush, and its trace closes', async () => {
      const [base] = fc.sample(spanArb(false), { numRuns: 1, seed: 7 });
      const diagnostics = captureDiag();
      try {
        for (const traceId of [42, { x: 1 }] as unknown as string[]) {
          const flushes: [string, number, number][] = [];
          const recorder = new FlightRecorderSpanProcessor({
            exporter: new TestExporter(),
            triggers: ['error'],
            flushScope: 'window',
            runtimeEvents: false,
            onFlush: (f) => flushes.push([f.scope, f.spans, f.traces]),
          });
          const span = (spanId: string, code: number, parent?: string) => {
            const ctx = { traceId, spanId, traceFlags: 1 };
            return {
              ...base!,
              status: { code },
              spanContext: () => ctx,
              parentSpanContext: parent === undefined ? undefined : { ...ctx, spanId: parent },
              events: [],
              links: [],
            } as unknown as Parameters<typeof recorder.onStart>[0];
          };
          const child = span('1111111111111111', 0, '2222222222222222');
          recorder.onStart(child, context.active());
          recorder.onEnd(child);
          const root = span('2222222222222222', 2);
          recorder.onStart(root, context.active());
          recorder.onEnd(root);
          await recorder.forceFlush();
          assert.deepEqual(flushes, [['window', 2, 2]], String(traceId));
          assert.deepEqual(
            diagnostics.messages.filter((m) => /failed to record/.test(m.message)),
            [],
            String(traceId),
          );
          await recorder.shutdown();
        }
      } finally {
        diagnostics.restore();
      }
    });

    test('trace scope exports only the triggering trace', async () => {
      const t = setup({ latencyThresholdMs: 100, flushScope: 'trace' });
      fastTrace(t, 'other', T0);
      const slow = t.start('slow', T0);
      slow.end(T0 + 200);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), ['slow']);
      assert.equal(t.recorder.stats().bufferedSpans, 2);
    });

    test('within minFlushIntervalMs a trigger exports only its own trace', async () => {
      const t = setup({ latencyThresholdMs: 100, minFlushIntervalMs: 60_000, minAgeMs: 120_000 });
      // The recorder's clock never runs ahead of the wall clock: move both.
      mock.timers.setTime(T0 + 200);
      t.start('slow1', T0).end(T0 + 200);
      mock.timers.setTime(T0 + 600);
      fastTrace(t, 'between', T0 + 300);
      t.start('slow2', T0 + 400).end(T0 + 600);
      mock.timers.setTime(T0 + 60_700);
      fastTrace(t, 'after', T0 + 60_300);
      t.start('slow3', T0 + 60_300).end(T0 + 60_700);
      await t.recorder.forceFlush();
      assert.deepEqual(
        t.flushes.map((f) => [f.scope, f.spans]),
        [
          ['window', 1],
          ['trace', 1],
          ['window', 5],
        ],
      );
      assert.deepEqual(names(t.exporter.spans), [
        'after',
        'after.child0',
        'between',
        'between.child0',
        'slow1',
        'slow2',
        'slow3',
      ]);
    });

    test('flushed spans leave the buffer, so no span is exported twice', async () => {
      const t = setup({ latencyThresholdMs: 100, minFlushIntervalMs: 0 });
      fastTrace(t, 'a', T0);
      t.start('slow1', T0).end(T0 + 200);
      t.start('slow2', T0).end(T0 + 300);
      await t.recorder.snapshot();
      await t.recorder.forceFlush();
      const ids = t.exporter.spans.map((s) => s.spanContext().spanId);
      assert.equal(ids.length, 4);
      assert.equal(new Set(ids).size, 4);
    });
  });

  describe('marks', () => {
    test('every span of one flush carries the same snapshot id and the trigger; flushes differ', async () => {
      const t = setup({ latencyThresholdMs: 100, minFlushIntervalMs: 0 });
      fastTrace(t, 'a', T0, 2);
      t.start('slow', T0).end(T0 + 200);
      fail(t.start('failed', T0 + 300)).end(T0 + 301);
      await t.recorder.forceFlush();
      const byId = new Map<unknown, string[]>();
      for (const s of t.exporter.spans) {
        const id = s.attributes[SNAPSHOT_ID_ATTRIBUTE];
        byId.set(id, [...(byId.get(id) ?? []), `${s.name}:${s.attributes[TRIGGER_ATTRIBUTE]}`]);
      }
      assert.deepEqual(
        [...byId.values()].map((v) => v.sort()),
        [['a.child0:latency', 'a.child1:latency', 'a:latency', 'slow:latency'], ['failed:error']],
      );
      assert.deepEqual(
        [...byId.keys()],
        t.flushes.map((f) => f.snapshotId),
      );
      for (const id of byId.keys()) assert.match(String(id), /^[0-9a-f]{16}$/);
    });

    test('marks do not mutate the original span, and the OTLP serializer sees every other field', async () => {
      const kept: ReadableSpan[] = [];
      const t = setup({ latencyThresholdMs: 100 });
      const root = t.start('slow', T0);
      root.setAttributes({ 'http.method': 'GET', 'http.status_code': 500, tags: ['a', 'b'] });
      root.addEvent('retry', { attempt: 2 }, T0 + 5);
      root.addLink({ context: remoteParent('0af7651916cd43dd8448eb211c80319c') });
      root.setStatus({ code: 2, message: 'upstream failed' });
      const original = root as unknown as ReadableSpan;
      kept.push(original);
      root.end(T0 + 200);
      await t.recorder.forceFlush();
      const [marked] = t.exporter.spans;
      assert.ok(marked);
      assert.equal(original.attributes[SNAPSHOT_ID_ATTRIBUTE], undefined);
      assert.equal(Object.keys(original.attributes).length, 3);
      const decode = (s: ReadableSpan) =>
        JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest([s])));
      const plain = decode(original);
      const exported = decode(marked);
      const exportedSpan = exported.resourceSpans[0].scopeSpans[0].spans[0];
      const marks = exportedSpan.attributes.filter((a: { key: string }) =>
        a.key.startsWith('flight_recorder.'),
      );
      assert.deepEqual(
        marks.map((a: { key: string }) => a.key),
        [SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE],
      );
      exportedSpan.attributes = exportedSpan.attributes.filter(
        (a: { key: string }) => !a.key.startsWith('flight_recorder.'),
      );
      assert.deepEqual(exported, plain);
      assert.equal(plain.resourceSpans[0].scopeSpans[0].spans[0].events.length, 1);
      assert.equal(plain.resourceSpans[0].scopeSpans[0].spans[0].links.length, 1);
    });

    test('a record-only span is exported with the sampled flag set', async () => {
      const t = setup({ latencyThresholdMs: 100 }, recordOnlySampler);
      const root = t.start('slow', T0);
      assert.equal(root.spanContext().traceFlags & TraceFlags.SAMPLED, 0);
      root.end(T0 + 200);
      await t.recorder.forceFlush();
      const [span] = t.exporter.spans;
      assert.equal(span!.spanContext().traceFlags & TraceFlags.SAMPLED, TraceFlags.SAMPLED);
      assert.equal(span!.spanContext().traceId, root.spanContext().traceId);
      assert.equal(root.spanContext().traceFlags & TraceFlags.SAMPLED, 0, 'original untouched');
    });
  });

  describe('late spans', () => {
    test('spans of a flushed trace that end after the flush are exported as they end, with the same marks', async () => {
      fakeTimers();
      const t = setup({ latencyThresholdMs: 100 });
      const root = t.start('slow', T0);
      const straggler = t.start('straggler', T0, root);
      const grandchild = t.start('grandchild', T0, straggler);
      root.end(T0 + 200);
      grandchild.end(T0 + 250);
      straggler.end(T0 + 300);
      mock.timers.tick(1_000);
      await settle();
      mock.timers.tick(1_000);
      await settle();
      const spans = t.exporter.spans;
      assert.deepEqual(names(spans), ['grandchild', 'slow', 'straggler']);
      assert.equal(new Set(spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE])).size, 1);
      assert.equal(t.recorder.stats().spansLate, 2);
      assert.equal(t.recorder.stats().bufferedSpans, 0);
    });

    test("late spans of several flushed traces, ending interleaved, go out once each with their own trace's marks", async () => {
      mock.timers.reset();
      // A 1 MiB queue keeps 16 late batches open at once: 20 traces overflow them.
      const t = setup({ latencyThresholdMs: 100, minFlushIntervalMs: 0, maxBytes: 1 << 20 });
      const now = Date.now();
      const traces = 20;
      const stragglers = [];
      for (let i = 0; i < traces; i++) {
        const root = t.start(`slow${i}`, now);
        stragglers.push([0, 1, 2].map((k) => t.start(`late${i}.${k}`, now, root)));
        root.end(now + 200);
      }
      await t.recorder.forceFlush();
      const snapshotOf = new Map(
        t.exporter.spans.map((s) => [traceIdOf(s), s.attributes[SNAPSHOT_ID_ATTRIBUTE]]),
      );
      assert.equal(new Set(snapshotOf.values()).size, traces);
      for (let k = 0; k < 3; k++) {
        for (let i = 0; i < traces; i++) stragglers[i]![k]!.end(now + 300 + k);
      }
      await t.recorder.forceFlush();
      const late = t.exporter.spans.filter((s) => s.name.startsWith('late'));
      assert.equal(late.length, 3 * traces);
      assert.equal(new Set(late.map((s) => s.name)).size, 3 * traces, 'none exported twice');
      for (const span of late) {
        assert.equal(span.attributes[SNAPSHOT_ID_ATTRIBUTE], snapshotOf.get(traceIdOf(span)));
        assert.equal(span.attributes[TRIGGER_ATTRIBUTE], 'latency');
      }
      const stats = t.recorder.stats();
      assert.equal(stats.spansLate, 3 * traces);
      assert.equal(stats.spansDropped, 0);
      assert.equal(stats.queuedSpans, 0);
      await t.recorder.shutdown();
    });

    test('forceFlush waits for the late spans that ended before it, though late spans of other traces keep ending', async () => {
      mock.timers.reset();
      const t = setup({ latencyThresholdMs: 100, minFlushIntervalMs: 0, maxExportBatchSize: 1 });
      const now = Date.now();
      const stragglers = ['a', 'b'].map((name) => {
        const root = t.start(name, now);
        const late = [0, 1].map((k) => t.start(`${name}.late${k}`, now, root));
        root.end(now + 200);
        return late;
      });
      await t.recorder.forceFlush();
      // One more window flush waits for export, and late spans of both traces queue behind it.
      t.exporter.delayMs = 5;
      t.start('c', now).end(now + 200);
      for (const late of stragglers) late[0]!.end(now + 300);
      const flushed = t.recorder.forceFlush();
      for (const late of stragglers) late[1]!.end(now + 301);
      await flushed;
      const out = names(t.exporter.spans);
      for (const name of ['a.late0', 'b.late0', 'c']) assert.ok(out.includes(name), `${name} out`);
      await t.recorder.forceFlush();
      assert.equal(t.exporter.spans.length, 7);
      await t.recorder.shutdown();
    });
  });

  describe('export path', () => {
    test('exports in batches of maxExportBatchSize, under suppressTracing', async () => {
      const t = setup({ maxExportBatchSize: 3 });
      for (let i = 0; i < 4; i++) fastTrace(t, `t${i}`, T0);
      await t.recorder.snapshot();
      const sizes = t.exporter.batches.map((b) => b.length);
      // The first batch is full; later ones are too unless the machine is so
      // loaded that the export queue's time slice (5 ms a turn, measured per
      // span) shrinks them, so they are checked against the bound.
      assert.equal(sizes[0], 3, JSON.stringify(sizes));
      assert.ok(
        sizes.every((n) => n >= 1 && n <= 3),
        JSON.stringify(sizes),
      );
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        8,
      );
      assert.ok(
        t.exporter.suppressed.length === sizes.length && t.exporter.suppressed.every(Boolean),
      );
      assert.equal(t.recorder.stats().spansExported, 8);
    });

    test('export calls are never concurrent, even with forceFlush and snapshots racing', async () => {
      mock.timers.reset();
      const t = setup({ maxExportBatchSize: 2, latencyThresholdMs: 10, minFlushIntervalMs: 0 });
      t.exporter.delayMs = 5;
      const now = Date.now();
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i++) {
        fastTrace(t, `t${i}`, now, 2);
        t.start(`slow${i}`, now).end(now + 50);
        work.push(t.recorder.forceFlush(), t.recorder.snapshot());
      }
      await Promise.all(work);
      assert.equal(t.exporter.maxInFlight, 1);
      assert.equal(t.exporter.spans.length, 20);
      assert.equal(t.recorder.stats().spansDropped, 0);
    });

    test('spans waiting for export are bounded: the oldest are dropped and counted', async () => {
      fakeTimers();
      const diagnostics = captureDiag();
      try {
        const t = setup({
          maxBytes: 30_000,
          maxExportBatchSize: 1,
          latencyThresholdMs: 10,
          minFlushIntervalMs: 0,
          // The export queue's bound, not the flush budget's.
          maxTracesPerSecond: 1_000_000,
        });
        t.exporter.mode = 'hang';
        for (let i = 0; i < 600; i++) {
          fastTrace(t, `t${i}`, T0 + i);
          t.start(`slow${i}`, T0 + i).end(T0 + i + 20);
        }
        const stats = t.recorder.stats();
        assert.ok(stats.queuedBytes <= 30_000);
        assert.ok(stats.spansDropped > 0);
        assert.equal(
          diagnostics.messages.filter((m) => /cannot keep up/.test(m.message)).length,
          1,
        );
      } finally {
        diagnostics.restore();
      }
    });

    test('a failing exporter is reported once per burst and counted', async () => {
      const diagnostics = captureDiag();
      try {
        const t = setup({ maxExportBatchSize: 1 });
        t.exporter.mode = 'fail';
        fastTrace(t, 'a', T0, 3);
        await t.recorder.snapshot();
        let stats = t.recorder.stats();
        assert.equal(stats.exportFailures, 4);
        assert.equal(stats.spansDropped, 4);
        assert.equal(diagnostics.messages.filter((m) => m.level === 'error').length, 1);
        t.exporter.mode = 'ok';
        fastTrace(t, 'b', T0);
        await t.recorder.snapshot();
        t.exporter.mode = 'fail';
        fastTrace(t, 'c', T0);
        await t.recorder.snapshot();
        stats = t.recorder.stats();
        assert.equal(stats.spansExported, 2);
        assert.equal(
          diagnostics.messages.filter((m) => m.level === 'error').length,
          2,
          'a new burst',
        );
      } finally {
        diagnostics.restore();
      }
    });

    test('a throwing exporter never reaches the app', async () => {
      const t = setup();
      t.exporter.mode = 'throw';
      fastTrace(t, 'a', T0);
      const diagnostics = captureDiag();
      try {
        await t.recorder.snapshot();
        assert.equal(t.recorder.stats().exportFailures, 1);
        assert.match(diagnostics.messages[0]!.message, /exporter exploded/);
      } finally {
        diagnostics.restore();
      }
    });

    test('waits for resource attributes still being detected, as BatchSpanProcessor does', async () => {
      mock.timers.reset();
      let resolveHost!: (id: string) => void;
      const hostId = new Promise<string>((resolve) => {
        resolveHost = resolve;
      });
      const exporter = new TestExporter();
      const seen: unknown[] = [];
      exporter.export = function (spans, done) {
        seen.push(spans[0]!.resource.attributes['host.id']);
        TestExporter.prototype.export.call(this, spans, done);
      };
      const recorder = new FlightRecorderSpanProcessor({ exporter, latencyThresholdMs: 10 });
      const provider = new TracerProvider({
        spanProcessors: [recorder],
        resource: resourceFromAttributes({ 'host.id': hostId }),
      });
      const diagnostics = captureDiag();
      try {
        const now = Date.now();
        provider
          .getTracer('t')
          .startSpan('slow', { startTime: now })
          .end(now + 100);
        const flushed = recorder.forceFlush();
        await settle();
        assert.equal(exporter.batches.length, 0, 'not exported before the resource settles');
        resolveHost('host-1');
        await flushed;
        assert.deepEqual(seen, ['host-1']);
        assert.equal(diagnostics.messages.length, 0);
      } finally {
        diagnostics.restore();
      }
    });

    test('a hanging exporter times out after exportTimeoutMs and the next batch goes', async () => {
      fakeTimers();
      const diagnostics = captureDiag();
      try {
        const t = setup({ exportTimeoutMs: 5_000, maxExportBatchSize: 1 });
        t.exporter.mode = 'hang';
        fastTrace(t, 'a', T0);
        const done = t.recorder.snapshot();
        await settle();
        assert.equal(t.exporter.batches.length, 1);
        mock.timers.tick(4_999);
        await settle();
        assert.equal(t.exporter.batches.length, 1, 'still waiting: never concurrent');
        mock.timers.tick(1);
        await settle();
        assert.equal(t.exporter.batches.length, 2);
        mock.timers.tick(5_000);
        await done;
        assert.equal(t.recorder.stats().exportFailures, 2);
        assert.match(diagnostics.messages[0]!.message, /timed out after 5000 ms/);
      } finally {
        diagnostics.restore();
      }
    });
  });

  describe('forceFlush and shutdown', () => {
    test('forceFlush waits for pending exports but does not flush the buffer', async () => {
      mock.timers.reset();
      const t = setup({ latencyThresholdMs: 10, flushScope: 'trace' });
      t.exporter.delayMs = 20;
      fastTrace(t, 'quiet', Date.now());
      const slow = t.start('slow', Date.now());
      slow.end(Date.now() + 100);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), ['slow']);
      assert.equal(t.exporter.inFlight, 0);
      assert.equal(t.exporter.forceFlushes, 1);
      assert.equal(t.recorder.stats().bufferedSpans, 2);
    });

    test('shutdown is idempotent, exports what is pending, stops recording and shuts the exporter down once', async () => {
      mock.timers.reset();
      const t = setup({ latencyThresholdMs: 10 });
      t.exporter.delayMs = 10;
      t.start('slow', Date.now()).end(Date.now() + 100);
      const [a, b] = [t.recorder.shutdown(), t.recorder.shutdown()];
      assert.equal(a, b);
      await a;
      assert.deepEqual(names(t.exporter.spans), ['slow']);
      assert.equal(t.exporter.shutdowns, 1);
      fastTrace(t, 'after', Date.now());
      assert.equal(t.recorder.stats().bufferedSpans, 0);
      await t.recorder.shutdown();
      assert.equal(t.exporter.shutdowns, 1);
    });

    test('shutdown gives up on a hanging exporter after exportTimeoutMs', async () => {
      fakeTimers();
      const t = setup({ latencyThresholdMs: 10, exportTimeoutMs: 1_000 });
      t.exporter.mode = 'hang';
      t.start('slow', T0).end(T0 + 100);
      const done = t.recorder.shutdown();
      await settle();
      mock.timers.tick(1_000);
      await done;
      assert.equal(t.exporter.shutdowns, 1);
      assert.equal(t.recorder.stats().spansDropped, 1);
    });
  });

  test('stats() reports every counter', async () => {
    const t = setup({ latencyThresholdMs: 100 });
    fastTrace(t, 'a', T0);
    t.start('slow', T0).end(T0 + 200);
    await t.recorder.forceFlush();
    assert.deepEqual(Object.keys(t.recorder.stats()).sort(), [
      'bufferedBytes',
      'bufferedLogBytes',
      'bufferedLogs',
      'bufferedSpans',
      'exportFailures',
      'flushes',
      'gcPausesRecorded',
      'latencyThresholdsMs',
      'logsAsSpanEvents',
      'logsDropped',
      'logsEvictedByAge',
      'logsEvictedByBytes',
      'logsExported',
      'logsOversize',
      'logsRecorded',
      'queuedBytes',
      'queuedSpans',
      'remoteFlushes',
      'remotePublishFailures',
      'remoteTriggersIgnored',
      'remoteTriggersPublished',
      'remoteTriggersReceived',
      'remoteTriggersRefused',
      'runtimeEventsAttached',
      'spansDropped',
      'spansEvictedByAge',
      'spansEvictedByBytes',
      'spansExported',
      'spansLate',
      'spansRecorded',
      'stallsRecorded',
      'triggers',
      'triggersSuppressed',
    ]);
    assert.equal(t.recorder.stats().flushes, 1);
    assert.equal(t.recorder.stats().spansExported, 3);
  });

  test('exports do not record spans of their own', async () => {
    const t = setup({ latencyThresholdMs: 10 });
    const tracer = t.provider.getTracer('exporter-internals');
    t.exporter.export = function (spans, done) {
      tracer.startSpan('inside export').end();
      TestExporter.prototype.export.call(this, spans, done);
    };
    t.start('slow', T0).end(T0 + 100);
    await t.recorder.forceFlush();
    assert.equal(t.recorder.stats().spansRecorded, 1);
    assert.ok(trace.getActiveSpan() === undefined);
  });
});

test('a window flush is one unit at the export queue bound: its own large triggering span does not push the window out', async () => {
  // The ring is nearly full and the triggering root is large: the window's
  // records and the trigger's together pass maxBytes, which only older
  // flushes may pay for.
  const t = setup({ maxBytes: 4_000, minAgeMs: 60_000, latencyThresholdMs: 100_000 });
  for (let i = 0; t.recorder.stats().spansEvictedByBytes === 0 && i < 1_000; i++) {
    // Values that never repeat, so the ring fills by bytes, not by its index.
    t.start(`quiet-${i}`, T0 + i)
      .setAttribute('body', `${i}:`.padEnd(150, 'q'))
      .end(T0 + i + 1);
  }
  const buffered = t.recorder.stats().bufferedSpans;
  const root = fail(t.start('failing', T0 + 2_000));
  root.setAttribute('payload', 'p'.repeat(1_200));
  root.end(T0 + 2_001);
  await t.recorder.forceFlush();
  const stats = t.recorder.stats();
  assert.equal(stats.spansDropped, 0);
  assert.equal(t.exporter.spans.length, buffered + 1);
  await t.recorder.shutdown();
});

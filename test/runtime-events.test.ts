import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { resolveOptions } from '../src/config.js';
import {
  type FlightRecorderOptions,
  FlightRecorderSpanProcessor,
  type FlushInfo,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { MAX_ATTACHED_PER_FLUSH, RUNTIME_RING_EVENTS } from '../src/runtime/runtime-events.js';
import { processSources } from '../src/runtime/sources.js';
import { EVENT_BYTES, GC, RuntimeRing, STALL } from '../src/runtime/runtime-ring.js';
import type { TriggerPolicy } from '../src/trigger/trigger-policy.js';
import { FakeRuntimeSources } from './helpers/runtime-sources.js';
import { TestExporter } from './helpers/test-exporter.js';
import { fail, makeTracing, names, traceIdOf } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;
beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
afterEach(() => mock.timers.reset());

function setup(options: FlightRecorderOptions = {}) {
  const exporter = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    latencyThresholdMs: 500,
    runtimeEvents: true,
    ...options,
  });
  const sources = new FakeRuntimeSources();
  recorder._runtime!._useSources(sources);
  return { exporter, recorder, sources, ...makeTracing(recorder) };
}

function ms(t: readonly [number, number]): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

const runtime = (spans: readonly ReadableSpan[]) =>
  spans.filter((s) => s.attributes['flight_recorder.runtime'] === true);

describe('runtime events', () => {
  test('a pause or stall overlapping a flushed trace becomes a child of the innermost span open then, timed exactly', async () => {
    const t = setup({ flushScope: 'trace' });
    const root = t.start('GET /slow', T0);
    const db = t.start('db', T0 + 100, root);
    const row = t.start('row', T0 + 150, db);
    t.sources.emitGc(T0 + 120, T0 + 130, 4); // only root and db are open
    t.sources.emitGc(T0 + 160, T0 + 170, 1); // row is the innermost
    t.sources.emitStall(T0 + 450, T0 + 550); // only the root is open
    row.end(T0 + 200);
    db.end(T0 + 400);
    root.end(T0 + 600);
    await t.recorder.forceFlush();
    const spans = t.exporter.spans;
    const added = runtime(spans);
    const byName = new Map(added.map((s) => [s.name, s]));
    assert.deepEqual(names(added), ['event loop blocked', 'gc (major)', 'gc (minor)']);
    const parentOf = (name: string) => byName.get(name)!.parentSpanContext?.spanId;
    assert.equal(parentOf('gc (major)'), db.spanContext().spanId);
    assert.equal(parentOf('gc (minor)'), row.spanContext().spanId);
    assert.equal(parentOf('event loop blocked'), root.spanContext().spanId);
    const major = byName.get('gc (major)')!;
    assert.equal(ms(major.startTime), T0 + 120);
    assert.equal(ms(major.endTime), T0 + 130);
    assert.equal(major.kind, SpanKind.INTERNAL);
    assert.equal(major.attributes['v8js.gc.type'], 'major');
    assert.equal(major.attributes['flight_recorder.runtime.duration_ms'], 10);
    assert.equal(byName.get('gc (minor)')!.attributes['v8js.gc.type'], 'minor');
    const stall = byName.get('event loop blocked')!;
    assert.equal(ms(stall.startTime), T0 + 450);
    assert.equal(stall.attributes['flight_recorder.runtime.duration_ms'], 100);
    // Fresh ids, in the trace that was flushed, marked like its other spans.
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    assert.equal(ids.size, spans.length);
    const marks = new Set(spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE]));
    assert.equal(marks.size, 1);
    for (const s of added) {
      assert.equal(traceIdOf(s), traceIdOf(root));
      assert.equal(s.attributes[TRIGGER_ATTRIBUTE], 'latency');
      assert.match(String(s.attributes['flight_recorder.runtime.relation']), /^affected by/);
      assert.doesNotMatch(JSON.stringify(s.attributes), /caused by/i);
    }
    // A trace flush has no runtime track.
    assert.equal(spans.filter((s) => s.name === 'process runtime').length, 0);
    const stats = t.recorder.stats();
    assert.equal(stats.gcPausesRecorded, 2);
    assert.equal(stats.stallsRecorded, 1);
    assert.equal(stats.runtimeEventsAttached, 3);
    await t.recorder.shutdown();
    assert.equal(t.sources.stopped, 2, 'shutdown stops both sources');
  });

  test('several traces overlapping one pause each get their own child', async () => {
    const t = setup({ flushScope: 'trace' });
    const a = t.start('GET /a', T0);
    const b = t.start('GET /b', T0 + 10);
    t.sources.emitGc(T0 + 50, T0 + 90, 4);
    b.end(T0 + 610);
    a.end(T0 + 700);
    await t.recorder.forceFlush();
    const attached = runtime(t.exporter.spans);
    assert.deepEqual(
      attached.map((s) => `${traceIdOf(s)} ${s.parentSpanContext!.spanId}`).sort(),
      [
        `${traceIdOf(a)} ${a.spanContext().spanId}`,
        `${traceIdOf(b)} ${b.spanContext().spanId}`,
      ].sort(),
    );
    assert.notEqual(attached[0]!.spanContext().spanId, attached[1]!.spanContext().spanId);
    assert.ok(attached.every((s) => ms(s.startTime) === T0 + 50 && ms(s.endTime) === T0 + 90));
    assert.equal(t.recorder.stats().runtimeEventsAttached, 2);
    await t.recorder.shutdown();
  });

  test('a window flush attaches to its triggering trace and exports one runtime track of every pause', async () => {
    const t = setup({ flushScope: 'window' });
    // The window's first span to end, of another trace, started before the others.
    t.start('GET /early', T0 - 300).end(T0 + 5);
    const a = t.start('GET /a', T0);
    const b = t.start('GET /b', T0 + 10);
    t.sources.emitGc(T0 + 50, T0 + 90, 4);
    b.end(T0 + 100);
    a.end(T0 + 700); // slow: triggers the window flush
    await t.recorder.forceFlush();
    const spans = t.exporter.spans;
    const trackRoot = spans.find((s) => s.name === 'process runtime')!;
    const inTrack = spans.filter((s) => traceIdOf(s) === traceIdOf(trackRoot));
    const attached = runtime(spans).filter((s) => traceIdOf(s) !== traceIdOf(trackRoot));
    assert.deepEqual(
      attached.map((s) => `${traceIdOf(s)} ${s.parentSpanContext!.spanId}`),
      [`${traceIdOf(a)} ${a.spanContext().spanId}`],
    );
    // The runtime track: a root over the window, the pause once, the sample as attributes.
    assert.deepEqual(names(inTrack), ['gc (major)', 'process runtime']);
    assert.equal(trackRoot.parentSpanContext, undefined);
    // From the window's oldest span, not the triggering trace's.
    assert.equal(ms(trackRoot.startTime), T0 - 300);
    assert.ok(ms(trackRoot.endTime) >= T0 + 90);
    assert.equal(trackRoot.attributes['v8js.memory.heap.used'], 12_345_678);
    assert.equal(trackRoot.attributes['nodejs.eventloop.utilization'], 0.25);
    assert.equal(trackRoot.attributes['flight_recorder.runtime.gc_pauses'], 1);
    assert.equal(trackRoot.attributes['flight_recorder.runtime.gc_ms'], 40);
    assert.equal(t.recorder.stats().runtimeEventsAttached, 1);
    assert.equal(new Set(spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE])).size, 1);
    await t.recorder.shutdown();
  });

  test('the next window flush tracks only newer pauses, with the previous sample as an event', async () => {
    const t = setup({ flushScope: 'window', minFlushIntervalMs: 0 });
    t.start('GET /a', T0).end(T0 + 1);
    t.sources.emitGc(T0 + 1, T0 + 2, 1);
    await t.recorder.snapshot();
    t.sources.heapUsed = 99;
    t.sources.emitStall(T0 + 5, T0 + 80);
    await t.recorder.snapshot();
    const roots = t.exporter.spans.filter((s) => s.name === 'process runtime');
    assert.equal(roots.length, 2);
    const second = t.exporter.spans.filter((s) => traceIdOf(s) === traceIdOf(roots[1]!));
    assert.deepEqual(names(second), ['event loop blocked', 'process runtime']);
    assert.equal(roots[1]!.attributes['v8js.memory.heap.used'], 99);
    assert.deepEqual(
      roots[1]!.events.map((e) => [e.name, e.attributes?.['v8js.memory.heap.used']]),
      [['runtime sample', 12_345_678]],
    );
    await t.recorder.shutdown();
  });

  test('what onFlush and snapshot() are told counts the spans and the trace runtime events add', async () => {
    const flushes: FlushInfo[] = [];
    const t = setup({ flushScope: 'window', onFlush: (f) => flushes.push(f) });
    const root = t.start('GET /slow', T0);
    t.sources.emitGc(T0 + 10, T0 + 20, 4);
    root.end(T0 + 600);
    await t.recorder.forceFlush();
    // The root, its gc child, and the runtime track's root and gc span.
    assert.deepEqual([flushes[0]!.spans, flushes[0]!.traces], [4, 2]);
    assert.equal(t.exporter.spans.length, 4);
    t.start('GET /a', T0 + 700).end(T0 + 710);
    const result = await t.recorder.snapshot();
    assert.deepEqual([result.spans, result.traces], [2, 2], 'GET /a and the track root');
    await t.recorder.shutdown();
  });

  test('pauses outside every flushed span are not attached', async () => {
    const t = setup({ flushScope: 'trace' });
    t.sources.emitGc(T0 - 50, T0 - 1, 4); // before
    const root = t.start('GET /slow', T0);
    const child = t.start('db', T0 + 10, root);
    child.end(T0 + 20);
    root.end(T0 + 600);
    // Another trace, not flushed, was open during this one and after it.
    const other = t.start('GET /other', T0 + 300);
    t.sources.emitStall(T0 + 650, T0 + 660);
    other.end(T0 + 700);
    await t.recorder.forceFlush();
    assert.deepEqual(names(t.exporter.spans), ['GET /slow', 'db']);
    assert.equal(t.recorder.stats().runtimeEventsAttached, 0);
    await t.recorder.shutdown();
  });

  test('the ring is bounded by bytes and age; a flush attaches at most its cap', async () => {
    const ring = new RuntimeRing(4, 1_000);
    assert.equal(ring.bytes, 4 * EVENT_BYTES);
    for (let i = 0; i < 6; i++) ring.push(GC, T0 + i * 100, T0 + i * 100 + 1, 4, 0);
    assert.equal(ring.length, 4);
    assert.equal(ring.overwritten, 2);
    assert.deepEqual(
      ring.read(T0).map((e) => [e.seq, e.startMs - T0]),
      [
        [2, 200],
        [3, 300],
        [4, 400],
        [5, 500],
      ],
    );
    assert.deepEqual(
      ring.read(T0 + 1_350, 4).map((e) => e.seq),
      [4, 5],
    );
    ring.push(STALL, T0 + 1_400, T0 + 1_450, 10, 0);
    assert.deepEqual(
      ring.read(T0 + 2_420).map((e) => e.type),
      [STALL],
      'older than 1 s at read: gone',
    );

    const t = setup({ flushScope: 'window' });
    assert.equal(t.recorder._runtime!.ringBytes, RUNTIME_RING_EVENTS * EVENT_BYTES);
    const root = t.start('GET /slow', T0);
    for (let i = 0; i < RUNTIME_RING_EVENTS + 500; i++) {
      t.sources.emitGc(T0 + i * 0.2, T0 + i * 0.2 + 0.1, 1);
    }
    root.end(T0 + 600);
    await t.recorder.forceFlush();
    const stats = t.recorder.stats();
    assert.equal(stats.gcPausesRecorded, RUNTIME_RING_EVENTS + 500);
    assert.equal(stats.runtimeEventsAttached, MAX_ATTACHED_PER_FLUSH);
    const spans = t.exporter.spans;
    const track = spans.find((s) => s.name === 'process runtime')!;
    assert.equal(
      spans.filter((s) => traceIdOf(s) === traceIdOf(track)).length,
      RUNTIME_RING_EVENTS + 1,
      'the track holds what the ring holds, and its root',
    );
    await t.recorder.shutdown();
  });

  test('a stall of stallTriggerMs or more triggers an event-loop-stall window flush through the trigger policy', async () => {
    const t = setup({ stallTriggerMs: 1_000, minFlushIntervalMs: 60_000 });
    t.start('GET /fast', T0).end(T0 + 5);
    t.sources.emitStall(T0 + 10, T0 + 1_009); // 999 ms: recorded, no trigger
    await t.recorder.forceFlush();
    assert.equal(t.exporter.spans.length, 0);
    const asked: string[] = [];
    const policy = t.recorder._policy;
    t.recorder._policy = {
      reason: (span, root, now) => policy.reason(span, root, now),
      decide: (reason, traceId, span, now) => {
        asked.push(`${reason} ${span.name} ${ms(span.endTime) - ms(span.startTime)}`);
        return policy.decide(reason, traceId, span, now);
      },
    } satisfies TriggerPolicy;
    t.sources.emitStall(T0 + 1_100, T0 + 2_100);
    await t.recorder.forceFlush();
    assert.deepEqual(asked, ['event-loop-stall event loop blocked 1000']);
    assert.deepEqual(t.recorder.stats().triggers, { 'event-loop-stall': 1 });
    const spans = t.exporter.spans;
    assert.ok(spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'event-loop-stall'));
    assert.deepEqual(names(spans), [
      'GET /fast',
      'event loop blocked',
      'event loop blocked',
      'process runtime',
    ]);
    // Within minFlushIntervalMs of that window flush: no second one.
    t.sources.emitStall(T0 + 3_000, T0 + 5_000);
    await t.recorder.forceFlush();
    assert.equal(t.recorder.stats().flushes, 1);
    await t.recorder.shutdown();
  });

  test('a stall seen again as it goes on (a flush inside the block saw it first) is one stall, widened, and triggers once it is long enough', async () => {
    const t = setup({ stallTriggerMs: 1_000, minFlushIntervalMs: 0 });
    t.start('GET /slow', T0).end(T0 + 5);
    // A flush 900 ms into a 1.8 s block saw it so far; the tick after it, whole.
    const id = t.sources.emitStall(T0 + 10, T0 + 910);
    await t.recorder.forceFlush();
    assert.equal(t.recorder.stats().triggers['event-loop-stall'], undefined);
    t.sources.emitStall(T0 + 10, T0 + 1_810, id);
    // Seen again, no longer: nothing new.
    t.sources.emitStall(T0 + 10, T0 + 1_810, id);
    await t.recorder.forceFlush();
    const stats = t.recorder.stats();
    assert.equal(stats.stallsRecorded, 1);
    assert.deepEqual(stats.triggers, { 'event-loop-stall': 1 });
    const stalls = runtime(t.exporter.spans).filter((s) => s.name === 'event loop blocked');
    assert.ok(stalls.length > 0);
    for (const s of stalls) assert.equal(ms(s.endTime) - ms(s.startTime), 1_800);
    await t.recorder.shutdown();
  });

  test('a stall right after another, starting inside its last millisecond, is a stall of its own and triggers on its own', async () => {
    const t = setup({ stallTriggerMs: 1_000, minFlushIntervalMs: 0 });
    t.start('GET /slow', T0).end(T0 + 5);
    // Read through the 1 ms wall clock, the second block starts 0.4 ms before
    // the first one's end.
    t.sources.emitStall(T0 + 10, T0 + 200);
    t.sources.emitStall(T0 + 199.6, T0 + 1_400);
    await t.recorder.forceFlush();
    const stats = t.recorder.stats();
    assert.equal(stats.stallsRecorded, 2);
    assert.deepEqual(stats.triggers, { 'event-loop-stall': 1 });
    const stalls = runtime(t.exporter.spans).filter((s) => s.name === 'event loop blocked');
    const lengths = new Set(stalls.map((s) => Math.round(ms(s.endTime) - ms(s.startTime))));
    assert.deepEqual(
      [...lengths].sort((a, b) => a - b),
      [190, 1_200],
    );
    await t.recorder.shutdown();
  });

  test('a burst of trace flushes does not push the pauses they are there to show out of the ring', async () => {
    const t = setup({ flushScope: 'trace', maxTracesPerSecond: 5_000, exportDelayMs: 0 });
    const slow = t.start('GET /slow', T0);
    t.sources.emitStall(T0 + 100, T0 + 900);
    // More trace flushes than the ring holds events (2,048), all within a second.
    for (let i = 0; i < 2_100; i++) fail(t.start('GET /err', T0 + 1_000)).end(T0 + 1_001);
    slow.end(T0 + 2_000);
    await t.recorder.forceFlush();
    const attached = runtime(t.exporter.spans).filter(
      (s) => s.parentSpanContext?.spanId === slow.spanContext().spanId,
    );
    assert.deepEqual(names(attached), ['event loop blocked']);
    await t.recorder.shutdown();
  });

  test('a stall trigger the budget defers is a window flush once the policy picks it', async () => {
    const t = setup({ stallTriggerMs: 1_000, maxTracesPerSecond: 2, minFlushIntervalMs: 60_000 });
    t.start('GET /fast', T0).end(T0 + 5);
    // A storm has spent 3 of the burst of 4: the stall is collected, not flushed at once.
    for (let i = 0; i < 3; i++) assert.ok(t.recorder._budget.tryTake(Date.now()));
    t.sources.emitStall(T0 + 10, T0 + 1_510);
    assert.equal(t.recorder.stats().flushes, 0, 'deferred');
    // The interval closes (forceFlush closes it at once): the stall, the slowest, gets the token.
    await t.recorder.forceFlush();
    assert.deepEqual(t.recorder.stats().triggers, { 'event-loop-stall': 1 });
    assert.deepEqual(t.recorder.stats().triggersSuppressed, {});
    const spans = t.exporter.spans;
    assert.ok(spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'event-loop-stall'));
    assert.ok(names(spans).includes('GET /fast'), 'the window went out');
    assert.ok(names(spans).includes('event loop blocked'));

    // Deferred again within minFlushIntervalMs of that flush: counted as suppressed, no flush.
    const again = setup({
      stallTriggerMs: 1_000,
      maxTracesPerSecond: 2,
      minFlushIntervalMs: 60_000,
    });
    for (let i = 0; i < 3; i++) again.recorder._budget.tryTake(Date.now());
    again.sources.emitStall(T0 + 10, T0 + 1_510);
    await again.recorder.snapshot();
    await again.recorder.forceFlush();
    assert.deepEqual(again.recorder.stats().triggersSuppressed, { 'event-loop-stall': 1 });
    assert.equal(again.recorder.stats().flushes, 1, 'only the snapshot');
    await again.recorder.shutdown();
    await t.recorder.shutdown();
  });

  test('a stall trigger the policy suppresses, or stallTriggerMs 0, flushes nothing', async () => {
    for (const [stallTriggerMs, decision] of [
      [1_000, 'suppress'],
      [0, 'flush'],
    ] as const) {
      const t = setup({ stallTriggerMs });
      t.recorder._policy = { reason: () => undefined, decide: () => decision };
      t.start('GET /fast', T0).end(T0 + 5);
      t.sources.emitStall(T0 + 10, T0 + 60_000);
      await t.recorder.forceFlush();
      assert.equal(t.recorder.stats().flushes, 0, `${stallTriggerMs} ${decision}`);
      assert.equal(t.recorder.stats().stallsRecorded, 1);
      await t.recorder.shutdown();
    }
  });

  test('runtimeEvents: false (or FLIGHT_RECORDER_RUNTIME_EVENTS=false) records none and adds nothing to flushes', async () => {
    const warn = (m: string) => assert.fail(m);
    assert.equal(resolveOptions({}, {}, warn).runtimeEvents, true, 'on by default');
    assert.equal(
      resolveOptions({}, { FLIGHT_RECORDER_RUNTIME_EVENTS: 'false' }, warn).runtimeEvents,
      false,
    );
    assert.equal(resolveOptions({}, {}, warn).stallThresholdMs, 50);
    assert.equal(resolveOptions({}, {}, warn).stallTriggerMs, 1_000);
    assert.equal(
      resolveOptions({}, { FLIGHT_RECORDER_STALL_THRESHOLD_MS: '20' }, warn).stallThresholdMs,
      20,
    );
    assert.throws(() => resolveOptions({ stallThresholdMs: 0 }, {}, warn), /stallThresholdMs/);
    // Below 20 ms the detector (a tick every half threshold, at most every
    // 10 ms) would miss blocks and report busy loops.
    assert.throws(() => resolveOptions({ stallThresholdMs: 10 }, {}, warn), /stallThresholdMs.*10/);
    const warnings: string[] = [];
    const low = { FLIGHT_RECORDER_STALL_THRESHOLD_MS: '10' };
    assert.equal(resolveOptions({}, low, (m) => warnings.push(m)).stallThresholdMs, 50);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /FLIGHT_RECORDER_STALL_THRESHOLD_MS.*10.*>= 20/);
    const exporter = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({ exporter, runtimeEvents: false });
    assert.equal(recorder._runtime, undefined);
    assert.equal(recorder._contributors.length, 0);
    const t = makeTracing(recorder);
    t.start('GET /slow', T0).end(T0 + 600);
    await recorder.snapshot();
    assert.deepEqual(names(exporter.spans), ['GET /slow']);
    const stats = recorder.stats();
    assert.deepEqual(
      [stats.gcPausesRecorded, stats.stallsRecorded, stats.runtimeEventsAttached],
      [0, 0, 0],
    );
    await recorder.shutdown();
  });

  test('the stall detector gets the threshold, and a flush asks the sources for what they hold first', async () => {
    const t = setup({ stallThresholdMs: 75, flushScope: 'trace' });
    assert.equal(t.sources.thresholdMs, 75);
    t.start('GET /slow', T0).end(T0 + 600);
    await t.recorder.forceFlush();
    assert.equal(t.sources.checks, 2);
    await t.recorder.shutdown();
  });
});

describe("this process's runtime sources", () => {
  test('the first utilization sample runs from when the sources were made: an idle loop reads low, not 1', async () => {
    const sources = processSources();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const first = sources.sample().utilization;
    assert.ok(first >= 0 && first < 0.5, `an idle 200 ms read ${first}`);
    // Busy from here: the next sample covers only the time since the first.
    const end = performance.now() + 100;
    while (performance.now() < end);
    const second = sources.sample().utilization;
    assert.ok(second > 0.5, `a busy 100 ms read ${second}`);
  });
});

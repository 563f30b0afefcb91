import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { type FlightRecorderOptions, SNAPSHOT_ID_ATTRIBUTE } from '../src/index.js';
import { encodeMessage } from '../src/coordination/message.js';
import { ClosedTraces, MAX_CLOSED_TRACES } from '../src/record/closed-traces.js';
import { tracedRecorder } from './fixtures/recorder.js';
import { fail, remoteParent, traceIdOf } from './helpers/tracing.js';

// Flushed traces are complete also when the trace is not one local root
// open from its first span to its last: a trace served here twice in turn,
// a child that ends after its root, a trace that comes back after its
// flush, and traces a window flush took part of.

const T0 = 1_800_000_000_000;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function setup(options: FlightRecorderOptions = {}) {
  return tracedRecorder({ exportDelayMs: 0, runtimeEvents: false, ...options });
}

type Tracing = ReturnType<typeof setup>;

/** The exported spans of `traceId`, as `name snapshot` (the id's first 4 chars), sorted. */
function exported(t: Tracing, traceId = TRACE): string[] {
  return t.exporter.spans
    .filter((s) => s.spanContext().traceId === traceId)
    .map((s) => `${s.name} ${String(s.attributes[SNAPSHOT_ID_ATTRIBUTE]).slice(0, 4)}`)
    .sort();
}

/** The names of the spans of `traceId` still in the buffer. */
function buffered(t: Tracing, traceId = TRACE): string[] {
  return t.recorder
    ._windowSpans()
    .filter((s: ReadableSpan) => s.spanContext().traceId === traceId)
    .map((s) => s.name)
    .sort();
}

/** One hop of the trace: a local root under the remote parent, and a child. */
function hop(t: Tracing, name: string, at: number, failed = false): void {
  const root = t.start(name, at, remoteParent(TRACE));
  t.start(`${name} child`, at, root).end(at + 1);
  if (failed) fail(root);
  root.end(at + 2);
}

describe('complete traces', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 }));
  afterEach(() => mock.timers.reset());

  for (const flushScope of ['trace', 'window'] as const) {
    test(`a trace served twice in turn whose second hop fails goes out with its first hop (${flushScope} scope)`, async () => {
      const t = setup({ flushScope, minFlushIntervalMs: 60_000 });
      if (flushScope === 'window') {
        // The window flush of this minute is spent: the second hop flushes its trace.
        const other = fail(t.start('other', T0));
        other.end(T0 + 1);
      }
      hop(t, 'first', T0 + 10);
      hop(t, 'second', T0 + 20, true);
      await t.recorder.forceFlush();
      const id = t.exporter.spans.find((s) => s.name === 'second')!.attributes[
        SNAPSHOT_ID_ATTRIBUTE
      ];
      const mark = String(id).slice(0, 4);
      assert.deepEqual(
        exported(t),
        ['first', 'first child', 'second', 'second child'].map((n) => `${n} ${mark}`).sort(),
      );
      assert.deepEqual(buffered(t), []);
      await t.recorder.shutdown();
    });
  }

  test('a child that ends after its root and triggers takes its trace with it', async () => {
    const t = setup({
      triggers: [],
      shouldTrigger: (span) => (span.name === 'background job' ? 'job-failed' : undefined),
    });
    const root = t.start('GET /orders', T0);
    const job = t.start('background job', T0 + 1, root);
    t.start('db', T0 + 1, root).end(T0 + 2);
    root.end(T0 + 3);
    job.end(T0 + 20);
    await t.recorder.forceFlush();
    const mark = String(t.exporter.spans[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE]).slice(0, 4);
    assert.deepEqual(
      exported(t, traceIdOf(root)),
      ['GET /orders', 'background job', 'db'].map((n) => `${n} ${mark}`).sort(),
    );
    assert.deepEqual(buffered(t, traceIdOf(root)), []);
    await t.recorder.shutdown();
  });

  test('a trace that comes back after its flush follows that flush, and its trigger spends no second token', async () => {
    const t = setup();
    hop(t, 'first', T0, true);
    await t.recorder.forceFlush();
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    // A retry of the same trace: nothing in it triggers.
    hop(t, 'retry', T0 + 10);
    await t.recorder.forceFlush();
    assert.deepEqual(buffered(t), [], 'the retry went out as late spans');
    // And a third hop that fails joins the same snapshot.
    hop(t, 'third', T0 + 20, true);
    await t.recorder.forceFlush();
    assert.deepEqual(
      exported(t),
      ['first', 'first child', 'retry', 'retry child', 'third', 'third child']
        .map((n) => `${n} ${mark}`)
        .sort(),
    );
    assert.equal(t.recorder.stats().flushes, 1);
    assert.deepEqual(t.recorder.stats().triggers, { error: 1 });
    await t.recorder.shutdown();
  });

  test('a root the policy suppresses in a storm follows the window flush that took part of its trace', async () => {
    const t = setup({ flushScope: 'window', maxTracesPerSecond: 1, minFlushIntervalMs: 60_000 });
    const root = t.start('ROOT', T0, remoteParent(TRACE));
    t.start('child 1', T0, root).end(T0 + 1);
    const child2 = t.start('child 2', T0, root);
    await t.recorder.snapshot('manual');
    child2.end(T0 + 2);
    // A storm: the budget is spent, and the interval fills with other
    // errors, all slower than ROOT (the slowest go first).
    for (let i = 0; i < 6; i++) fail(t.start(`other ${i}`, T0 - 1_000)).end(T0 + 4);
    fail(root).end(T0 + 5);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.ok(t.recorder.stats().triggersSuppressed.error! >= 1, 'the storm suppressed triggers');
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    assert.deepEqual(exported(t), [`ROOT ${mark}`, `child 1 ${mark}`, `child 2 ${mark}`].sort());
    assert.deepEqual(buffered(t), []);
    await t.recorder.shutdown();
  });

  test('a deferred trace that a snapshot took before the policy decided: its spans that end later follow the snapshot', async () => {
    const t = setup({ maxTracesPerSecond: 1 });
    // Spend the budget: the next trigger is deferred.
    for (let i = 0; i < 2; i++) fail(t.start(`warm ${i}`, T0)).end(T0 + 1);
    const root = fail(t.start('ROOT', T0 + 2, remoteParent(TRACE)));
    const late = t.start('late child', T0 + 2, root);
    t.start('child', T0 + 2, root).end(T0 + 3);
    root.end(T0 + 4);
    // Half the burst flushed the first warm-up; the other and ROOT wait for the policy.
    assert.deepEqual(t.recorder.stats().triggers, { error: 1 });
    await t.recorder.snapshot('manual');
    late.end(T0 + 5);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    assert.deepEqual(exported(t), [`ROOT ${mark}`, `child ${mark}`, `late child ${mark}`].sort());
    assert.deepEqual(buffered(t), []);
    await t.recorder.shutdown();
  });

  test('a child that ends after a window flush took its closed trace follows that flush', async () => {
    const t = setup({ triggers: [] });
    const root = t.start('GET /orders', T0);
    const job = t.start('background job', T0 + 1, root);
    t.start('db', T0 + 1, root).end(T0 + 2);
    root.end(T0 + 3);
    await t.recorder.snapshot('manual');
    job.end(T0 + 20);
    await t.recorder.forceFlush();
    const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
    assert.deepEqual(
      exported(t, traceIdOf(root)),
      ['GET /orders', 'background job', 'db'].map((n) => `${n} ${mark}`).sort(),
    );
    assert.deepEqual(buffered(t, traceIdOf(root)), []);
    assert.equal(t.recorder.stats().spansLate, 1);
    await t.recorder.shutdown();
  });

  test('a hop that comes after a window flush took its closed trace follows that flush, and one that fails after it flushes once more', async () => {
    const t = setup({ flushScope: 'window', minFlushIntervalMs: 60_000 });
    hop(t, 'first', T0);
    await t.recorder.snapshot('manual');
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    hop(t, 'retry', T0 + 10);
    await t.recorder.forceFlush();
    assert.deepEqual(buffered(t), [], 'the retry went out as late spans');
    assert.deepEqual(
      exported(t),
      ['first', 'first child', 'retry', 'retry child'].map((n) => `${n} ${mark}`).sort(),
    );
    // A window flush is not the trace's own: a hop that fails still triggers.
    hop(t, 'third', T0 + 20, true);
    await t.recorder.forceFlush();
    assert.deepEqual(t.recorder.stats().triggers, { manual: 1, error: 1 });
    assert.equal(t.exporter.spans.length, 6, 'no span went out twice');
    await t.recorder.shutdown();
  });

  test('a hop open, with nothing ended yet, when a window flush took the hop before it: its spans follow that flush', async () => {
    const t = setup({ flushScope: 'window', minFlushIntervalMs: 60_000 });
    hop(t, 'first', T0);
    const root = t.start('second', T0 + 10, remoteParent(TRACE));
    const child = t.start('second child', T0 + 10, root);
    await t.recorder.snapshot('manual');
    child.end(T0 + 11);
    root.end(T0 + 12);
    await t.recorder.forceFlush();
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    assert.deepEqual(buffered(t), [], 'the second hop went out as late spans');
    assert.deepEqual(
      exported(t),
      ['first', 'first child', 'second', 'second child'].map((n) => `${n} ${mark}`).sort(),
    );
    await t.recorder.shutdown();
  });

  test('the trace whose trigger made a window flush: its root that fails later follows it, one snapshot and one token', async () => {
    const t = setup({
      flushScope: 'window',
      shouldTrigger: (s) => (s.name === 'child' ? 'bad-child' : undefined),
    });
    const root = t.start('ROOT', T0);
    t.start('child', T0, root).end(T0 + 1);
    fail(root).end(T0 + 2);
    await t.recorder.forceFlush();
    const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
    assert.deepEqual(exported(t, traceIdOf(root)), [`ROOT ${mark}`, `child ${mark}`]);
    assert.deepEqual(t.recorder.stats().triggers, { 'bad-child': 1 });
    assert.equal(t.recorder.stats().flushes, 1);
    await t.recorder.shutdown();
  });

  test('trigger spans of an open trace a window flush took, held by the policy and let go, follow that flush', async () => {
    const t = setup({
      flushScope: 'window',
      minFlushIntervalMs: 0,
      maxTracesPerSecond: 1,
      triggers: [],
      shouldTrigger: (s) => (s.name.endsWith('!') ? 'custom' : undefined),
    });
    const root = t.start('ROOT', T0);
    t.start('child', T0, root).end(T0 + 1);
    // A window flush takes the child; the budget is then below half its burst.
    t.start('warm 0!', T0 + 2).end(T0 + 2);
    // The next spends the last token; two more of the open trace wait for
    // the policy, which finds no token for them and lets them go.
    t.start('warm 1!', T0 + 3).end(T0 + 3);
    t.start('job!', T0 + 3, root).end(T0 + 4);
    t.start('job 2!', T0 + 3, root).end(T0 + 5);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.equal(t.recorder.stats().triggersSuppressed.custom, 2, 'both were let go');
    root.end(T0 + 1_005);
    await t.recorder.forceFlush();
    const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
    assert.deepEqual(
      exported(t, traceIdOf(root)),
      ['ROOT', 'child', 'job!', 'job 2!'].map((n) => `${n} ${mark}`).sort(),
    );
    assert.deepEqual(buffered(t, traceIdOf(root)), []);
    await t.recorder.shutdown();
  });

  test('a hop that starts while its trace waits for the policy, let go before a window flush takes the trace, follows that flush', async () => {
    const t = setup({ maxTracesPerSecond: 1, minFlushIntervalMs: 0 });
    // Spend the budget: the next triggers wait for the policy, and a slower
    // error than first takes the token there is.
    for (let i = 0; i < 2; i++) fail(t.start(`warm ${i}`, T0)).end(T0 + 1);
    fail(t.start('slow', T0 - 5_000)).end(T0 + 1);
    const root = fail(t.start('first', T0 + 2, remoteParent(TRACE)));
    t.start('first child', T0 + 2, root).end(T0 + 3);
    root.end(T0 + 4);
    const second = t.start('second', T0 + 5, remoteParent(TRACE));
    mock.timers.tick(250);
    assert.ok(t.recorder.stats().triggersSuppressed.error! >= 1, 'first was let go');
    assert.deepEqual(buffered(t), ['first', 'first child'], 'nothing of it flushed');
    await t.recorder.snapshot('manual');
    second.end(T0 + 300);
    await t.recorder.forceFlush();
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    assert.deepEqual(
      exported(t),
      ['first', 'first child', 'second'].map((n) => `${n} ${mark}`).sort(),
    );
    assert.deepEqual(buffered(t), []);
    await t.recorder.shutdown();
  });

  test('a remote trigger of a closed trace a window flush took does not detach its late child from that flush', async () => {
    // Never connects: the test hands the coordinator its message.
    const t = setup({ triggers: [], coordination: { redis: 'redis://127.0.0.1:1' } });
    try {
      const root = t.start('GET /orders', T0);
      const job = t.start('background job', T0 + 1, root);
      t.start('db', T0 + 1, root).end(T0 + 2);
      root.end(T0 + 3);
      await t.recorder.snapshot('manual');
      // Nothing of the trace is left here: the coordinator forgets it.
      t.recorder['_coordination']!.receive(
        encodeMessage({
          trace: traceIdOf(root),
          snapshot: 'abababababababab',
          trigger: 'error',
          service: 'upstream',
          instance: 'other',
        }),
      );
      job.end(T0 + 20);
      await t.recorder.forceFlush();
      assert.deepEqual(buffered(t, traceIdOf(root)), []);
      const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
      assert.deepEqual(
        exported(t, traceIdOf(root)),
        ['GET /orders', 'background job', 'db'].map((n) => `${n} ${mark}`).sort(),
      );
    } finally {
      await t.recorder.shutdown();
    }
  });

  for (const otherOpen of [false, true]) {
    test(`a closed trace that aged out before a window flush keeps its late child buffered (another trace open across it: ${otherOpen})`, async () => {
      const t = setup({ triggers: [], minAgeMs: 1_000 });
      // Another trace, open across the flush: its pinned record keeps the ring's head.
      const other = otherOpen ? t.start('other', T0) : undefined;
      if (other !== undefined) t.start('other child', T0, other).end(T0);
      const root = t.start('GET /orders', T0);
      const job = t.start('background job', T0 + 1, root);
      root.end(T0 + 3);
      // A later span ages the trace's records out of the ring.
      mock.timers.tick(5_000);
      t.start('later', T0 + 5_000).end(T0 + 5_001);
      assert.deepEqual(buffered(t, traceIdOf(root)), []);
      await t.recorder.snapshot('manual');
      job.end(T0 + 5_002);
      await t.recorder.forceFlush();
      assert.deepEqual(exported(t, traceIdOf(root)), []);
      assert.deepEqual(buffered(t, traceIdOf(root)), ['background job']);
      other?.end(T0 + 5_003);
      await t.recorder.shutdown();
    });
  }

  test('a closed trace whose first record aged out, the rest taken by a window flush: its late child follows that flush', async () => {
    const t = setup({ triggers: [], minAgeMs: 1_000 });
    const root = t.start('GET /orders', T0);
    t.start('db', T0, root).end(T0 + 1);
    const job = t.start('background job', T0 + 1, root);
    root.end(T0 + 500);
    // db (ended at T0 + 1) ages out at the snapshot; GET /orders (T0 + 500) does not.
    mock.timers.tick(1_200);
    assert.deepEqual(buffered(t, traceIdOf(root)), ['GET /orders']);
    await t.recorder.snapshot('manual');
    job.end(T0 + 1_300);
    await t.recorder.forceFlush();
    const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
    assert.deepEqual(
      exported(t, traceIdOf(root)),
      [`GET /orders ${mark}`, `background job ${mark}`].sort(),
    );
    assert.deepEqual(buffered(t, traceIdOf(root)), []);
    await t.recorder.shutdown();
  });

  test('a late child of a trace a window took, whose trigger the policy defers, is not lost when minAgeMs is shorter than the 200 ms interval', async () => {
    const t = setup({
      flushScope: 'window',
      minFlushIntervalMs: 0,
      maxTracesPerSecond: 1,
      minAgeMs: 50,
      triggers: [],
      shouldTrigger: (s) => (s.name.endsWith('!') ? 'custom' : undefined),
    });
    const root = t.start('GET /orders', T0);
    const job = t.start('job!', T0 + 1, root);
    root.end(T0 + 3);
    await t.recorder.snapshot('manual');
    // Spend the budget below half its burst: the next triggers are deferred,
    // and a slower one than job! takes the interval's one token.
    t.start('warm 1!', T0 + 4).end(T0 + 4);
    t.start('warm 2!', T0 - 500).end(T0 + 5);
    mock.timers.tick(10);
    job.end(T0 + 10);
    // Another span ends 100 ms later: job! (its trace closed) ages out, deferred or not.
    mock.timers.tick(90);
    t.start('other', T0 + 100).end(T0 + 100);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    const mark = exported(t, traceIdOf(root))[0]!.split(' ').at(-1)!;
    assert.equal(
      exported(t, traceIdOf(root)).length,
      2,
      `exported: ${exported(t, traceIdOf(root))} (snapshot ${mark})`,
    );
    assert.deepEqual(t.recorder.stats().triggersSuppressed, {});
    await t.recorder.shutdown();
  });

  test('a late span that ends while its trace flush waits for export does not drop that flush (maxBytes 3000)', async () => {
    const t = setup({ maxBytes: 3_000, exportDelayMs: 5_000 });
    const root = t.start('GET /orders', T0);
    const job = t.start('background job', T0, root);
    t.start('db', T0, root).end(T0 + 1);
    fail(root).end(T0 + 2);
    mock.timers.tick(10);
    job.end(T0 + 12);
    mock.timers.tick(6_000);
    await t.recorder.forceFlush();
    assert.equal(t.recorder.stats().spansDropped, 0);
    assert.equal(exported(t, traceIdOf(root)).length, 3);
    await t.recorder.shutdown();
  });

  test('a trace open across more than 16 window flushes: its late span is never sent under a window flush that took nothing of it', async () => {
    const t = setup({ triggers: [] });
    const root = t.start('GET /orders', T0);
    t.start('db', T0, root).end(T0 + 1);
    await t.recorder.snapshot('manual');
    for (let i = 0; i < 16; i++) {
      t.start(`other ${i}`, T0 + 2).end(T0 + 2);
      await t.recorder.snapshot('manual');
    }
    root.end(T0 + 3);
    await t.recorder.forceFlush();
    // The snapshot that took db is forgotten: GET /orders is not sent under
    // another one (which took nothing of its trace); it stays in the buffer.
    assert.equal(exported(t, traceIdOf(root)).length, 1, `${exported(t, traceIdOf(root))}`);
    assert.deepEqual(buffered(t, traceIdOf(root)), ['GET /orders']);
    await t.recorder.shutdown();
  });

  for (const thirdOpen of [false, true]) {
    test(`a deferred trigger of a trace a window took, swept by a later snapshot: later hops follow the first flush that took the trace (a hop open across it: ${thirdOpen})`, async () => {
      const t = setup({ maxTracesPerSecond: 1 });
      hop(t, 'first', T0);
      await t.recorder.snapshot('manual');
      // Spend the budget: the next triggers are deferred.
      for (let i = 0; i < 2; i++) fail(t.start(`warm ${i}`, T0 + 5)).end(T0 + 5);
      const second = t.start('second', T0 + 10, remoteParent(TRACE));
      fail(second).end(T0 + 20);
      const third = thirdOpen ? t.start('third', T0 + 25, remoteParent(TRACE)) : undefined;
      // Takes second, deferred and still buffered.
      await t.recorder.snapshot('manual');
      third?.end(T0 + 40);
      t.start('fourth', T0 + 50, remoteParent(TRACE)).end(T0 + 51);
      mock.timers.tick(1_000);
      await t.recorder.forceFlush();
      const id = (name: string) =>
        exported(t)
          .find((s) => s.startsWith(`${name} `))!
          .split(' ')
          .at(-1);
      // The trace follows the first flush that took any of it, whatever the order.
      assert.equal(id('fourth'), id('first'), `${exported(t)}`);
      await t.recorder.shutdown();
    });
  }

  test("a hop open when a window flush took its trace's earlier hop, whose trigger the policy deferred, follows that flush", async () => {
    const t = setup({
      maxTracesPerSecond: 1,
      triggers: [],
      shouldTrigger: (s) => (s.name.endsWith('!') ? 'custom' : undefined),
    });
    // Spend the budget: the next triggers are deferred.
    for (let i = 0; i < 2; i++) t.start(`warm ${i}!`, T0).end(T0);
    const first = t.start('first', T0 + 10, remoteParent(TRACE));
    t.start('job!', T0 + 10, first).end(T0 + 11);
    first.end(T0 + 12);
    const second = t.start('second', T0 + 20, remoteParent(TRACE));
    await t.recorder.snapshot('manual');
    second.end(T0 + 22);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    const mark = exported(t)[0]!.split(' ').at(-1)!;
    assert.deepEqual(buffered(t), []);
    assert.deepEqual(exported(t), ['first', 'job!', 'second'].map((n) => `${n} ${mark}`).sort());
    await t.recorder.shutdown();
  });
});

describe('ClosedTraces', () => {
  /** A trace id whose last 64 bits are `hi` and `lo` (the table's key). */
  const id = (hi: number, lo: number) =>
    `${'f'.repeat(16)}${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`;

  test('remembers where a closed trace began, the earliest of its hops, by the last 64 bits of its id', () => {
    const closed = new ClosedTraces(1_000);
    const a = id(1, 0xabcd);
    assert.equal(closed.firstSeq(a), -1);
    closed.closed(a, 40);
    closed.closed(a, 70);
    assert.equal(closed.firstSeq(a), 40, 'a second hop keeps where the first began');
    // The same low 32 bits, another high half: another trace.
    assert.equal(closed.firstSeq(id(2, 0xabcd)), -1);
    closed.closed('not hex, not hex!', 5);
    assert.equal(closed.firstSeq('not hex, not hex!'), -1);
    closed.clear();
    assert.equal(closed.firstSeq(a), -1);
  });

  test('a full set gives the entry of the trace whose records began first to a newer one', () => {
    const closed = new ClosedTraces(1_000);
    // Low bits 0x100 apart: one set (the table has 64 sets of 4 here).
    const traces = [0, 1, 2, 3, 4].map((n) => id(n, n * 0x100));
    traces.slice(0, 4).forEach((t, n) => closed.closed(t, 10 + n));
    traces.slice(0, 4).forEach((t, n) => assert.equal(closed.firstSeq(t), 10 + n));
    closed.closed(traces[4]!, 20);
    assert.equal(closed.firstSeq(traces[0]!), -1, 'the oldest went');
    for (const n of [1, 2, 3]) assert.equal(closed.firstSeq(traces[n]!), 10 + n);
    assert.equal(closed.firstSeq(traces[4]!), 20);
    // A trace forgotten (its records are all gone) frees its entry, and no other.
    closed.forget(traces[2]!);
    assert.equal(closed.firstSeq(traces[2]!), -1);
    for (const n of [1, 3]) assert.equal(closed.firstSeq(traces[n]!), 10 + n);
    closed.closed(traces[0]!, 30);
    assert.equal(closed.firstSeq(traces[0]!), 30, 'into the freed entry');
    assert.equal(closed.firstSeq(traces[1]!), 11);
  });

  test('remembers where a closed trace ends: its last hop, or a span that ended after its roots', () => {
    const closed = new ClosedTraces(1_000);
    const t = '1'.repeat(32);
    closed.closed(t, 10, 15);
    assert.deepEqual([closed.firstSeq(t), closed.lastSeq(t)], [10, 15]);
    closed.closed(t, 20, 25);
    assert.deepEqual([closed.firstSeq(t), closed.lastSeq(t)], [10, 25], 'its second hop');
    closed.recorded(t, 30);
    closed.recorded(t, 12);
    assert.deepEqual([closed.firstSeq(t), closed.lastSeq(t)], [10, 30]);
    closed.recorded('2'.repeat(32), 40);
    assert.equal(closed.lastSeq('2'.repeat(32)), -1, 'not a closed trace');
  });

  test('has an entry per 4 records of the ring, a power of two from 256 to the bound', () => {
    assert.equal(new ClosedTraces(1).slots, 256);
    assert.equal(new ClosedTraces(4_096).slots, 1_024);
    assert.equal(new ClosedTraces(4_097).slots, 2_048);
    assert.equal(new ClosedTraces(10_000_000).slots, MAX_CLOSED_TRACES);
  });
});

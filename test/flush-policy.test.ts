import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import type { Span } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { resolveOptions } from '../src/config.js';
import {
  FlightRecorderSpanProcessor,
  type FlightRecorderOptions,
  PERCENTILE_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { ExportPace } from '../src/export/export-pace.js';
import { FlushBudget } from '../src/trigger/flush-budget.js';
import { MAX_TRIGGER_NAMES, OTHER_TRIGGERS } from '../src/trigger/flush-policy.js';
import { BUCKETS, LatencySketch, RELATIVE_ERROR } from '../src/trigger/latency-sketch.js';
import {
  HALF_WINDOW_MS,
  MAX_ROUTES,
  OTHER_ROUTES,
  RouteThresholds,
} from '../src/trigger/route-thresholds.js';
import { tracedRecorder } from './fixtures/recorder.js';
import { TestExporter } from './helpers/test-exporter.js';
import {
  captureDiag,
  fail,
  makeTracing,
  remoteParent,
  settle,
  traceIdOf,
} from './helpers/tracing.js';

const T0 = 1_800_000_000_000;

const setup = tracedRecorder;

type Tracing = ReturnType<typeof setup>;

/** A root named `name` lasting `ms` and ending now (the fake clock), with one child. */
function request(t: Tracing, name: string, ms: number, failed = false): Span {
  const end = Date.now();
  const root = t.start(name, end - ms);
  t.start('child', end - ms, root).end(end - 1);
  if (failed) fail(root);
  root.end(end);
  return root;
}

function roots(spans: readonly ReadableSpan[]): ReadableSpan[] {
  return spans.filter((s) => s.parentSpanContext === undefined);
}

describe('FlushBudget', () => {
  test('holds a burst, refills at its rate, never past the burst, and not when the clock steps back', () => {
    const b = new FlushBudget(10, 20, 0);
    for (let i = 0; i < 20; i++) assert.equal(b.tryTake(0), true, `token ${i}`);
    assert.equal(b.tryTake(0), false, 'the burst is spent');
    assert.equal(b.tryTake(99), false, '99 ms refills 0.99 of a token');
    assert.equal(b.tryTake(100), true, '100 ms refills one');
    assert.equal(b.tryTake(50), false, 'a clock that steps back refills nothing');
    assert.equal(b.tokens(60_000), 20, 'never more than the burst');
    assert.equal(b.full(60_000), true);
  });
});

describe('the flush budget in a storm', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 }));
  afterEach(() => mock.timers.reset());

  test('half the burst flushes at once; then each 200 ms the errors, then the slowest, flush within the tokens; the rest are counted and stay in the ring', async () => {
    const diagnostics = captureDiag();
    try {
      const t = setup();
      const all: Span[] = [];
      // 60 slow roots, all over 500 ms; every tenth fails.
      for (let i = 0; i < 60; i++) all.push(request(t, `GET /r${i}`, 600 + i, i % 10 === 0));
      // The first 10 took half the burst of 20 at once.
      assert.deepEqual(t.recorder.stats().triggers, { error: 1, latency: 9 });
      mock.timers.tick(200);
      // Then 12 tokens (10 left + 200 ms at 10/s): the 5 errors, then the 7 slowest.
      const s = t.recorder.stats();
      assert.deepEqual(s.triggers, { error: 6, latency: 16 });
      assert.deepEqual(s.triggersSuppressed, { latency: 38 });
      await t.recorder.forceFlush();
      const exported = new Set(roots(t.exporter.spans).map((r) => r.name));
      const expected = [
        ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        ...[10, 20, 30, 40, 50],
        ...[59, 58, 57, 56, 55, 54, 53],
      ].map((i) => `GET /r${i}`);
      assert.deepEqual([...exported].sort(), expected.sort());
      assert.equal(t.exporter.spans.length, 22 * 2, 'each flushed trace whole');
      // Suppressed traces are still buffered, both spans each.
      const buffered = t.recorder._windowSpans();
      assert.equal(buffered.length, 38 * 2);
      assert.ok(buffered.some((s) => traceIdOf(s) === traceIdOf(all[11]!)));
      const warnings = diagnostics.messages.filter((m) => m.message.includes('flush budget'));
      assert.equal(warnings.length, 1, 'one warning per storm');
      await t.recorder.shutdown();
    } finally {
      diagnostics.restore();
    }
  });

  test('one warning per storm: a second storm after the bucket refilled warns again', async () => {
    const diagnostics = captureDiag();
    try {
      const t = setup({ maxTracesPerSecond: 1 });
      const storm = () => {
        for (let i = 0; i < 10; i++) request(t, 'GET /', 600);
        mock.timers.tick(200);
      };
      storm();
      storm();
      const count = () =>
        diagnostics.messages.filter((m) => m.message.includes('flush budget')).length;
      assert.equal(count(), 1);
      mock.timers.tick(3_000);
      storm();
      assert.equal(count(), 2);
      assert.ok((t.recorder.stats().triggersSuppressed.latency ?? 0) > 0);
      await t.recorder.shutdown();
    } finally {
      diagnostics.restore();
    }
  });

  test('a suppressed trace is carried by a later window flush', async () => {
    const t = setup({ maxTracesPerSecond: 1 });
    for (let i = 0; i < 5; i++) request(t, `GET /${i}`, 600);
    mock.timers.tick(200);
    const suppressed = t.recorder.stats().triggersSuppressed.latency ?? 0;
    assert.ok(suppressed >= 3, `suppressed ${suppressed}`);
    await t.recorder.forceFlush();
    const before = t.exporter.spans.length;
    await t.recorder.snapshot();
    const window = t.exporter.spans.slice(before);
    assert.equal(window.length, suppressed * 2);
    assert.ok(window.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'manual'));
    await t.recorder.shutdown();
  });

  test('trace flushes of a storm share export calls: a full batch, or 5 s after the first flush', async () => {
    const t = setup({ maxTracesPerSecond: 10 });
    for (let i = 0; i < 40; i++) request(t, `GET /${i}`, 600 + i);
    // 10 flushed at once, 12 more (the slowest of the rest) after 200 ms: all
    // wait for the call due 5 s after the first flush (BatchSpanProcessor's
    // schedule delay).
    mock.timers.tick(0);
    await settle(20);
    mock.timers.tick(200);
    await settle();
    assert.equal(t.exporter.batches.length, 0, 'gathering');
    assert.equal(t.recorder.stats().queuedSpans, 44);
    mock.timers.tick(4_799);
    await settle();
    assert.equal(t.exporter.batches.length, 0, 'still gathering');
    mock.timers.tick(1);
    await settle(20);
    // All 22 traces in fewer calls than traces (the queue slices batches by its time budget, more on a loaded machine).
    assert.equal(t.exporter.spans.length, 44);
    assert.ok(t.exporter.batches.length < 22, String(t.exporter.batches.map((b) => b.length)));
    assert.equal(t.recorder.stats().queuedSpans, 0);
    await t.recorder.shutdown();

    // With a batch of 8, a full batch goes at once; the rest waits for the 5 s.
    const small = setup({ maxTracesPerSecond: 10, maxExportBatchSize: 8 });
    for (let i = 0; i < 40; i++) request(small, `GET /${i}`, 600 + i);
    mock.timers.tick(0);
    await settle(20);
    mock.timers.tick(200);
    await settle(20);
    const early = small.exporter.spans.length;
    assert.equal(
      early,
      40,
      `the full batches only, before the 5 s: ${small.exporter.batches.map((b) => b.length).join(',')}`,
    );
    mock.timers.tick(4_800);
    await settle(20);
    assert.equal(small.exporter.spans.length, 44);
    assert.ok(small.exporter.batches.every((b) => b.length <= 8));
    await small.recorder.shutdown();

    // A full batch still goes at once when the queue's time slices (5 ms of
    // work a call) send it in parts: here a span is taken to cost 5 ms.
    const sliced = setup({ maxTracesPerSecond: 100, maxExportBatchSize: 8 });
    (sliced.recorder as unknown as { _exports: { _msPerSpan: number } })._exports._msPerSpan = 5;
    for (let i = 0; i < 4; i++) request(sliced, `GET /${i}`, 600 + i);
    mock.timers.tick(0);
    await settle(40);
    assert.equal(sliced.exporter.spans.length, 8, 'the whole batch, before the 5 s');
    assert.ok(sliced.exporter.batches.length > 1, 'in slices');
    await sliced.recorder.shutdown();
  });

  test('triggers within the budget share the call due 5 s after the first; exportDelayMs 0 exports each at once', async () => {
    const t = setup({ maxTracesPerSecond: 1 });
    const calls = () => t.exporter.batches.length;
    // Two within the budget (burst 2, more than half of it left for the first only).
    request(t, 'GET /a', 600);
    mock.timers.tick(0);
    await settle(20);
    assert.equal(calls(), 0, 'the first waits for its call');
    // The second is collected (half the burst left), flushes after 200 ms and
    // joins the call due 5 s after the first.
    request(t, 'GET /b', 600);
    mock.timers.tick(200);
    await settle();
    assert.equal(calls(), 0);
    mock.timers.tick(4_800);
    await settle(20);
    // One call 5 s after the first, with both (more only when the queue's
    // 5 ms time slices split it, on a loaded machine).
    assert.equal(t.exporter.spans.length, 4, 'both, 5 s after the first');
    assert.ok(calls() >= 1);
    const before = calls();
    // A quiet 10 s later: a new wait of 5 s.
    mock.timers.tick(10_000);
    request(t, 'GET /c', 600);
    mock.timers.tick(4_999);
    await settle(20);
    assert.equal(calls(), before, 'waiting');
    mock.timers.tick(1);
    await settle(20);
    assert.equal(t.exporter.spans.length, 6);
    assert.deepEqual(t.recorder.stats().triggersSuppressed, {});
    await t.recorder.shutdown();

    const now = setup({ maxTracesPerSecond: 1, exportDelayMs: 0 });
    request(now, 'GET /a', 600);
    mock.timers.tick(0);
    await settle(20);
    assert.equal(now.exporter.batches.length, 1, 'at once');
    request(now, 'GET /b', 600);
    mock.timers.tick(200);
    await settle(20);
    assert.equal(now.exporter.batches.length, 2, 'each in a call of its own');
    await now.recorder.shutdown();
  });

  test('a late span of a trace flush joins the call its trace waits for', async () => {
    const t = setup({});
    const end = Date.now();
    const root = t.start('GET /late', end - 600);
    const child = t.start('child', end - 600, root);
    root.end(end);
    mock.timers.tick(1_000);
    child.end(Date.now());
    assert.equal(t.recorder.stats().spansLate, 1);
    mock.timers.tick(200);
    await settle(20);
    assert.equal(t.exporter.batches.length, 0, 'the late span waits with its trace');
    mock.timers.tick(3_800);
    await settle(20);
    assert.deepEqual(
      t.exporter.batches.map((b) => b.map((s) => s.name).sort()),
      [['GET /late', 'child']],
      'one call at 5 s, with both',
    );
    await t.recorder.shutdown();
  });

  test('forceFlush and shutdown decide the collected triggers at once', async () => {
    const t = setup({ maxTracesPerSecond: 1 });
    request(t, 'GET /a', 600);
    request(t, 'GET /b', 700);
    request(t, 'GET /c', 900);
    await t.recorder.forceFlush();
    // One at once (a), then 1 token for the collected: the slower c; b is suppressed.
    assert.deepEqual(
      roots(t.exporter.spans).map((r) => r.name),
      ['GET /a', 'GET /c'],
    );
    assert.deepEqual(t.recorder.stats().triggersSuppressed, { latency: 1 });
    mock.timers.tick(1_000);
    request(t, 'GET /d', 600);
    request(t, 'GET /e', 800);
    await t.recorder.shutdown();
    assert.ok(roots(t.exporter.spans).some((r) => r.name === 'GET /e'));
  });
});

describe('a trace whose trigger a storm deferred', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 }));
  afterEach(() => mock.timers.reset());

  /**
   * A recorder of 1 trace/s (a burst of 2) whose calm half three short
   * triggers spent: the next trigger is deferred, and it wins the interval's
   * one token when it is the slowest.
   */
  function stormy(options: FlightRecorderOptions = {}) {
    const custom = options.shouldTrigger;
    const t = setup({
      maxTracesPerSecond: 1,
      triggers: custom === undefined ? ['error'] : [],
      exportDelayMs: 0,
      ...options,
      ...(custom === undefined
        ? {}
        : { shouldTrigger: (span) => (span.name.startsWith('warm') ? 'warm' : custom(span)) }),
    });
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      const warm = t.start(`warm ${i}`, now);
      // Errors rank first: warm-ups that fail only when the trigger is an error.
      (custom === undefined ? fail(warm) : warm).end(now + 1);
    }
    return t;
  }

  const names = (spans: readonly ReadableSpan[], traceId: string): string[] =>
    spans
      .filter((s) => s.spanContext().traceId === traceId)
      .map((s) => s.name)
      .sort();

  test('goes out whole: spans that end after its root, while the policy collects, join it', async () => {
    const t = stormy();
    const now = Date.now();
    const root = fail(t.start('ROOT', now));
    const child = t.start('late child', now, root);
    root.end(now + 5);
    mock.timers.tick(50);
    child.end(Date.now());
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.deepEqual(names(t.exporter.spans, traceIdOf(root)), ['ROOT', 'late child']);
  });

  test('goes out whole when a child triggered: the root and siblings that end while the policy collects join it', async () => {
    const t = stormy({
      shouldTrigger: (span) => (span.name === 'bad child' ? 'bad-child' : undefined),
    });
    const now = Date.now();
    const root = t.start('ROOT', now);
    t.start('sibling', now, root).end(now + 1);
    t.start('bad child', now, root).end(now + 2);
    t.start('sibling 2', now, root).end(now + 3);
    root.end(now + 4);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.deepEqual(names(t.exporter.spans, traceIdOf(root)), [
      'ROOT',
      'bad child',
      'sibling',
      'sibling 2',
    ]);
  });

  test('keeps its spans older than minAgeMs until the policy decides, though its root has ended', async () => {
    const t = stormy({ minAgeMs: 1_000 });
    const now = Date.now();
    const root = fail(t.start('SLOW ROOT', now));
    t.start('early child', now, root).end(now + 1);
    mock.timers.tick(4_000);
    root.end(Date.now());
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.deepEqual(names(t.exporter.spans, traceIdOf(root)), ['SLOW ROOT', 'early child']);
    assert.equal(t.recorder.stats().spansEvictedByAge, 0);
  });

  test('suppressed after all, lets go of its records: those past minAgeMs age out', async () => {
    const t = setup({
      maxTracesPerSecond: 1,
      triggers: ['error'],
      exportDelayMs: 0,
      minAgeMs: 1_000,
    });
    const start = Date.now();
    // Three traces whose children end at once; their roots fail 1.5 s later.
    const traces: Span[] = [];
    for (let i = 0; i < 3; i++) {
      const root = t.start(`ROOT ${i}`, start - i);
      t.start(`child ${i}`, start, root).end(start + 1);
      traces.push(root);
    }
    mock.timers.tick(1_500);
    const now = Date.now();
    // Warm-ups spend the calm half of the budget; then the three roots fail,
    // deferred, the slowest first.
    for (let i = 0; i < 3; i++) fail(t.start(`warm ${i}`, now)).end(now + 1);
    for (const root of traces) fail(root).end(now + 1);
    // Deferred, their children stay pinned past minAgeMs.
    assert.equal(t.recorder.stats().spansEvictedByAge, 0);
    mock.timers.tick(200);
    await t.recorder.forceFlush();
    // The interval's one token: the slowest trace, whole.
    assert.deepEqual(names(t.exporter.spans, traceIdOf(traces[2]!)), ['ROOT 2', 'child 2']);
    for (const root of traces.slice(0, 2)) {
      assert.deepEqual(names(t.exporter.spans, traceIdOf(root)), []);
    }
    // The two suppressed: their children, past minAgeMs, went when the policy let them go.
    assert.equal(t.recorder.stats().spansEvictedByAge, 2);
  });

  test('a trace served twice here in turn (two local roots), the first deferred, goes out whole and leaves nothing pinned', async () => {
    const t = stormy({ minAgeMs: 1_000 });
    const now = Date.now();
    const parent = remoteParent('4bf92f3577b34da6a3ce929d0e0e4736');
    const first = fail(t.start('ROOT 1', now, parent));
    t.start('child of root 1', now, first).end(now + 1);
    first.end(now + 2);
    // The second request of the trace, while the policy collects.
    const second = t.start('ROOT 2', now + 3, parent);
    t.start('child of root 2', now + 3, second).end(now + 4);
    second.end(now + 5);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    assert.deepEqual(names(t.exporter.spans, traceIdOf(first)), [
      'ROOT 1',
      'ROOT 2',
      'child of root 1',
      'child of root 2',
    ]);
    // Past minAgeMs, what was held for the policy (the warm-ups it let go of) ages out.
    mock.timers.tick(10_000);
    t.start('tick', Date.now()).end(Date.now());
    assert.equal(t.recorder.stats().bufferedSpans, 1);
  });

  test('of two deferred triggers of one trace, the one flushed carries the evidence on its own span', async () => {
    const t = stormy({
      triggers: ['latency'],
      latencyThresholdMs: 500,
      shouldTrigger: (span) => (span.name === 'bad child' ? 'custom' : undefined),
    });
    const now = Date.now();
    const root = t.start('ROOT', now);
    t.start('bad child', now, root).end(now + 10);
    root.end(now + 900);
    mock.timers.tick(1_000);
    await t.recorder.forceFlush();
    const spans = t.exporter.spans.filter((s) => s.spanContext().traceId === traceIdOf(root));
    const threshold = (name: string) =>
      spans.find((s) => s.name === name)?.attributes[THRESHOLD_ATTRIBUTE];
    assert.equal(spans.find((s) => s.name === 'ROOT')?.attributes[TRIGGER_ATTRIBUTE], 'latency');
    assert.equal(threshold('ROOT'), 500);
    assert.equal(threshold('bad child'), undefined);
  });

  test('a trace a window flush took part of still triggers, after its root ended, for a span of its own', async () => {
    const t = setup({
      triggers: [],
      exportDelayMs: 0,
      shouldTrigger: (span) => (span.name.startsWith('bad') ? 'bad' : undefined),
    });
    const now = Date.now();
    const root = t.start('ROOT', now);
    t.start('child 1', now, root).end(now + 1);
    await t.recorder.snapshot('manual');
    const background = t.start('bad background child', now + 2, root);
    root.end(now + 3);
    background.end(now + 10);
    await t.recorder.forceFlush();
    assert.deepEqual(t.recorder.stats().triggers, { manual: 1, bad: 1 });
  });

  test('a trace flush whose spans fill a batch by bytes goes out at once, not after exportDelayMs', async () => {
    const t = setup({ triggers: ['error'], exportDelayMs: 60_000, maxExportBatchBytes: 4_000 });
    const now = Date.now();
    const root = t.start('ROOT', now);
    for (let i = 0; i < 100; i++) t.start(`child ${i} ${'x'.repeat(200)}`, now, root).end(now + 1);
    fail(root).end(now + 2);
    mock.timers.tick(1);
    await settle();
    mock.timers.tick(1);
    await settle();
    // Full batches went; what is left, under 4,000 bytes, waits for the delay.
    assert.ok(t.exporter.batches.length >= 5, `${t.exporter.batches.length} calls`);
    assert.ok(t.recorder.stats().queuedSpans < 20, `${t.recorder.stats().queuedSpans} queued`);
  });

  test('a span of a trace a trace flush took already follows that flush, whatever its own trigger', async () => {
    for (const storm of [false, true]) {
      const t = setup({
        maxTracesPerSecond: 1,
        exportDelayMs: 0,
        shouldTrigger: (span) => (span.name === 'bad child' ? 'bad-child' : undefined),
      });
      const now = Date.now();
      const root = t.start('ROOT', now);
      // A child's trigger flushes the trace while its root is open.
      t.start('bad child', now, root).end(now + 1);
      if (storm) {
        // Other requests spend the budget and fill the interval with worse errors.
        for (let i = 0; i < 6; i++) fail(t.start(`other ${i}`, now)).end(now + 5_000);
      }
      // The root then fails: a trigger of its own, in a trace flushed already.
      fail(root).end(now + 10);
      mock.timers.tick(1_000);
      await t.recorder.forceFlush();
      const ofTrace = t.exporter.spans.filter((s) => s.spanContext().traceId === traceIdOf(root));
      assert.deepEqual(ofTrace.map((s) => s.name).sort(), ['ROOT', 'bad child'], `storm ${storm}`);
      const ids = new Set(ofTrace.map((s) => s.attributes['flight_recorder.snapshot.id']));
      assert.equal(ids.size, 1, `one snapshot for the trace (storm ${storm})`);
      assert.equal(t.recorder.stats().spansLate, 1);
      await t.recorder.shutdown();
    }
  });
});

describe('ExportPace', () => {
  test('the first flush starts a wait that every flush during it joins', () => {
    const p = new ExportPace(5_000);
    assert.equal(p.delay(1_000), 5_000, 'the first waits the whole delay');
    assert.equal(p.delay(1_000), 5_000, 'the same instant shares that call');
    assert.equal(p.delay(1_200), 4_800, 'joins the call pending');
    assert.equal(p.delay(5_999), 1);
    assert.equal(p.delay(6_100), 5_000, 'after that call, a new wait');
    assert.equal(p.delay(100), 5_000, 'a clock that steps back waits the delay at most');
    assert.equal(p.pending(10_000), 1_100, 'the call pending at 11,100');
    assert.equal(p.pending(11_100), -1, 'none once it has gone');
    const now = new ExportPace(0);
    assert.equal(now.delay(1_000), 0, 'delay 0: at once');
    assert.equal(now.delay(1_000), 0);
  });

  test("a steady 5 triggers a second make one call per 5 s, as BatchSpanProcessor's spans", () => {
    const p = new ExportPace(5_000);
    const calls = new Set<number>();
    for (let t = 0; t < 60_000; t += 200) calls.add(t + p.delay(t));
    assert.deepEqual(
      [...calls],
      Array.from({ length: 12 }, (_, k) => (k + 1) * 5_000),
      'one call per 5 s over a minute of 300 triggers: 12, where BatchSpanProcessor makes 12',
    );
  });
});

describe('RouteThresholds', () => {
  test('converges on a known distribution within the relative error', () => {
    const n = 10_000;
    for (const [q, exact] of [
      [99, 9_900],
      [50, 5_000],
      [99.9, 9_990],
    ] as const) {
      const routes = new RouteThresholds(q, 500, () => 0);
      let threshold = 0;
      // 1..10000 ms in a scrambled order (7919 is prime to 10000).
      for (let i = 0; i < n; i++) threshold = routes.observe('GET /', ((i * 7919) % n) + 1, 0);
      // Never below the true percentile, less than 2% above it.
      assert.ok(
        threshold >= exact && threshold < exact * (1 + RELATIVE_ERROR),
        `p${q}: ${threshold} vs ${exact}`,
      );
    }
    // An exponential distribution, mean 100 ms: p99 = 100 ln 100.
    const routes = new RouteThresholds(99, 500, () => 0);
    let threshold = 0;
    for (let i = 0; i < n; i++) {
      const u = ((i * 7919) % n) / n + 0.5 / n;
      threshold = routes.observe('GET /', -100 * Math.log(1 - u), 0);
    }
    const exact = 100 * Math.log(100);
    assert.ok(
      threshold >= exact && threshold < exact * (1 + RELATIVE_ERROR),
      `${threshold} vs ${exact}`,
    );
  });

  test('durations all alike do not trigger: the threshold is never below them', () => {
    const routes = new RouteThresholds(99, 1, () => 0);
    for (let i = 0; i < 1_000; i++) {
      const threshold = routes.observe('GET /', 200, 0);
      if (i > 300) assert.ok(!(200 > threshold), `${i}: ${threshold}`);
    }
  });

  test('the floor applies until a route has enough samples', () => {
    const routes = new RouteThresholds(99, 250, () => 0);
    let threshold = 0;
    for (let i = 0; i < 199; i++) threshold = routes.observe('GET /', 10, 0);
    assert.equal(threshold, 250);
    for (let i = 0; i < 40; i++) threshold = routes.observe('GET /', 10, 0);
    assert.ok(Math.abs(threshold - 10) / 10 <= RELATIVE_ERROR, String(threshold));
    assert.deepEqual(Object.keys(routes.snapshot()), ['GET /']);
  });

  test('64 routes get their own sketch; the rest share one', () => {
    const routes = new RouteThresholds(99, 500, () => 0);
    for (let r = 0; r < MAX_ROUTES + 10; r++) {
      for (let i = 0; i < 300; i++) routes.observe(`GET /${r}`, r < MAX_ROUTES ? 10 : 1_000, 0);
    }
    const snapshot = routes.snapshot();
    assert.equal(Object.keys(snapshot).length, MAX_ROUTES + 1);
    assert.ok(!('GET /64' in snapshot));
    assert.ok(Math.abs(snapshot[OTHER_ROUTES]! - 1_000) / 1_000 <= RELATIVE_ERROR);
    assert.ok(Math.abs(snapshot['GET /0']! - 10) / 10 <= RELATIVE_ERROR);
  });

  test('the window slides: samples older than two halves stop counting', () => {
    const sketch = new LatencySketch(1_000, 0);
    for (let i = 0; i < 100; i++) sketch.add(1_000, 0);
    for (let i = 0; i < 100; i++) sketch.add(10, 1_000);
    // Both halves: the slow ones still set p99.
    assert.ok(Math.abs(sketch.quantile(0.99) - 1_000) / 1_000 <= RELATIVE_ERROR);
    sketch.add(10, 2_000);
    assert.ok(Math.abs(sketch.quantile(0.99) - 10) / 10 <= RELATIVE_ERROR);
    assert.equal(sketch.count, 101);
    // A long silence empties both.
    sketch.add(10, 10_000);
    assert.equal(sketch.count, 1);
    // Out of range values land in the end buckets, never out of the array.
    sketch.add(Number.NaN, 10_000);
    sketch.add(-5, 10_000);
    sketch.add(1e12, 10_000);
    assert.equal(sketch.count, 4);
    assert.ok(BUCKETS < 1_000);
  });
});

describe('percentile thresholds in the recorder', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
  afterEach(() => mock.timers.reset());

  test("a root slower than its route's recent p99 triggers latency, and carries the threshold and percentile", async () => {
    const t = setup({ latencyThresholdMs: 'p99', latencyFloorMs: 250 });
    for (let i = 0; i < 300; i++) {
      request(t, 'GET /fast', 10);
      request(t, 'GET /slow', 200);
    }
    // Under the floor while warming up; then each route's own p99: nothing triggered.
    assert.deepEqual(t.recorder.stats().triggers, {});
    const thresholds = t.recorder.stats().latencyThresholdsMs;
    assert.ok(Math.abs(thresholds['GET /fast']! - 10) / 10 <= RELATIVE_ERROR);
    assert.ok(Math.abs(thresholds['GET /slow']! - 200) / 200 <= RELATIVE_ERROR);
    // 40 ms is fast for /slow but slow for /fast.
    request(t, 'GET /slow', 40);
    const slow = request(t, 'GET /fast', 40);
    await t.recorder.forceFlush();
    assert.deepEqual(t.recorder.stats().triggers, { latency: 1 });
    const spans = t.exporter.spans.filter((s) => traceIdOf(s) === traceIdOf(slow));
    assert.equal(spans.length, 2);
    const root = roots(spans)[0]!;
    assert.equal(root.attributes[PERCENTILE_ATTRIBUTE], 99);
    assert.ok(
      Math.abs((root.attributes[THRESHOLD_ATTRIBUTE] as number) - 10) / 10 <= RELATIVE_ERROR,
    );
    const child = spans.find((s) => s !== root)!;
    assert.equal(child.attributes[THRESHOLD_ATTRIBUTE], undefined, 'only the root');
    assert.equal(child.attributes[TRIGGER_ATTRIBUTE], 'latency');
    await t.recorder.shutdown();
  });

  test("one root ending far in the future does not freeze its route's window: the p99 still follows the route", async () => {
    const t = setup({ latencyThresholdMs: 'p99', latencyFloorMs: 1 });
    // One root that ends in 2100 (a bad clock), then the route is slow...
    const future = 4_102_444_800_000;
    t.start('GET /a', future - 5).end(future);
    for (let i = 0; i < 320; i++) request(t, 'GET /a', 400);
    // ...and, two half windows later, fast.
    mock.timers.tick(2 * HALF_WINDOW_MS + 1_000);
    for (let i = 0; i < 320; i++) request(t, 'GET /a', 1);
    const before = t.recorder.stats().triggers.latency ?? 0;
    request(t, 'GET /a', 300);
    assert.equal(t.recorder.stats().triggers.latency ?? 0, before + 1, '300 ms is slow now');
    assert.ok(t.recorder.stats().latencyThresholdsMs['GET /a']! < 10);
    await t.recorder.shutdown();
  });

  test('a fixed threshold shows as * and is carried without a percentile; errors carry none', async () => {
    const t = setup({ latencyThresholdMs: 300 });
    assert.deepEqual(t.recorder.stats().latencyThresholdsMs, { '*': 300 });
    const slow = request(t, 'GET /', 400);
    const failed = request(t, 'GET /', 10, true);
    await t.recorder.forceFlush();
    const rootOf = (s: Span) => roots(t.exporter.spans).find((r) => traceIdOf(r) === traceIdOf(s))!;
    assert.equal(rootOf(slow).attributes[THRESHOLD_ATTRIBUTE], 300);
    assert.equal(rootOf(slow).attributes[PERCENTILE_ATTRIBUTE], undefined);
    assert.equal(rootOf(failed).attributes[THRESHOLD_ATTRIBUTE], undefined);
    await t.recorder.shutdown();
  });
});

describe('options', () => {
  test('latencyThresholdMs takes a percentile from code and env; bad env values warn once and the default applies', () => {
    assert.equal(
      resolveOptions({ latencyThresholdMs: 'p99' }, {}, () => {}).latencyThresholdMs,
      'p99',
    );
    for (const [raw, value] of [
      ['p99', 'p99'],
      ['P99.9', 'p99.9'],
      ['750', 750],
    ] as const) {
      const warnings: string[] = [];
      const o = resolveOptions({}, { FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: raw }, (m) =>
        warnings.push(m),
      );
      assert.equal(o.latencyThresholdMs, value);
      assert.deepEqual(warnings, []);
    }
    for (const raw of ['p0', 'p101', 'p100', 'pabc', '-1', 'p', '99']) {
      const warnings: string[] = [];
      const o = resolveOptions({}, { FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: raw }, (m) =>
        warnings.push(m),
      );
      if (raw === '99') {
        assert.equal(o.latencyThresholdMs, 99, 'a number of ms');
        continue;
      }
      assert.equal(o.latencyThresholdMs, 500, raw);
      assert.equal(warnings.length, 1, raw);
      assert.match(warnings[0]!, /FLIGHT_RECORDER_LATENCY_THRESHOLD_MS/);
      assert.ok(warnings[0]!.includes(JSON.stringify(raw)), warnings[0]);
    }
  });

  test('bad code values throw a TypeError naming the option and the value', () => {
    for (const [options, pattern] of [
      [{ latencyThresholdMs: 'p0' }, /`latencyThresholdMs`.*"p0"/],
      [{ latencyThresholdMs: 'p100' }, /`latencyThresholdMs`.*"p100"/],
      [{ latencyThresholdMs: 'pabc' }, /`latencyThresholdMs`.*"pabc"/],
      [{ latencyThresholdMs: -1 }, /`latencyThresholdMs`.*-1/],
      [{ latencyFloorMs: -1 }, /`latencyFloorMs`.*-1/],
      [{ maxTracesPerSecond: 0 }, /`maxTracesPerSecond`.*integer >= 1.*0/],
      [{ maxTracesPerSecond: 1.5 }, /`maxTracesPerSecond`.*1\.5/],
    ] as const) {
      assert.throws(
        () => new FlightRecorderSpanProcessor(options as FlightRecorderOptions),
        (e: Error) => e instanceof TypeError && pattern.test(e.message),
        JSON.stringify(options),
      );
    }
  });

  test('FLIGHT_RECORDER_MAX_TRACES_PER_SECOND takes decimal integers only', () => {
    const read = (raw: string) => {
      const warnings: string[] = [];
      const o = resolveOptions({}, { FLIGHT_RECORDER_MAX_TRACES_PER_SECOND: raw }, (m) =>
        warnings.push(m),
      );
      return { value: o.maxTracesPerSecond, warnings: warnings.length };
    };
    assert.deepEqual(read('50'), { value: 50, warnings: 0 });
    for (const raw of ['0', '1.5', '1e3', '-1', 'ten']) {
      assert.deepEqual(read(raw), { value: 10, warnings: 1 }, raw);
    }
  });
});

describe('what the trigger policy reads', () => {
  test('trigger names are counted in stats() at most 64 apart, the rest under other; a name like toString is a count', async () => {
    const t = setup({
      triggers: [],
      minFlushIntervalMs: 0,
      maxTracesPerSecond: 1_000_000,
      shouldTrigger: (span) => span.name,
    });
    const now = Date.now();
    t.start('toString', now).end(now + 1);
    for (let i = 0; i < 200; i++) t.start(`not-found /users/${i}`, now).end(now + 1);
    const triggers = t.recorder.stats().triggers;
    assert.equal(Object.keys(triggers).length, MAX_TRIGGER_NAMES + 1);
    assert.equal(triggers.toString, 1);
    assert.equal(triggers[OTHER_TRIGGERS], 201 - MAX_TRIGGER_NAMES);
    await t.recorder.shutdown();
  });

  test('a span without a status, duration or end time is still recorded with triggers on, and its trace closes', async () => {
    for (const latencyThresholdMs of [500, 'p99'] as const) {
      const exporter = new TestExporter();
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        flushScope: 'trace',
        latencyThresholdMs,
      });
      // The recorder sees each root named `no <field>` without that field.
      const hiding: SpanProcessor = {
        onStart: (span, parent) => recorder.onStart(span, parent),
        onEnd: (span) => {
          const field = span.name.startsWith('no ') ? span.name.slice(3) : undefined;
          recorder.onEnd(
            field === undefined
              ? span
              : new Proxy(span, {
                  get: (target, key) =>
                    key === field ? undefined : Reflect.get(target, key, target),
                }),
          );
        },
        forceFlush: () => recorder.forceFlush(),
        shutdown: () => recorder.shutdown(),
      };
      const t = makeTracing(hiding);
      const now = Date.now();
      for (const field of ['status', 'duration', 'endTime']) {
        const root = t.start(`no ${field}`, now);
        t.start('child', now, root).end(now + 1);
        root.end(now + 2);
      }
      assert.equal(recorder.stats().spansRecorded, 6, `threshold ${latencyThresholdMs}`);
      const snapshot = await recorder.snapshot();
      assert.equal(snapshot.spans, 6);
      await recorder.shutdown();
    }
  });
});

// Exporters that break their contract, in process. Each scenario asserts:
// nothing thrown at the app, the event loop never blocked long, exact
// counters, no spans kept alive by what the exporter holds, bounded shutdown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FanOutSpanExporter } from '../../src/index.js';
import { HostileExporter } from './fixtures/exporters.js';
import { app, arrayBuffers, counters, SLACK_MS, until, watch, within } from './fixtures/harness.js';

describe('an exporter that breaks its contract', () => {
  test('throws from export(): each batch counts as failed and the next one still goes', async () => {
    const w = watch();
    const exporter = new HostileExporter('throw');
    const a = app({ exporter, exportTimeoutMs: 1_000 });
    a.trace();
    await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    a.trace();
    await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    assert.ok(exporter.calls >= 2);
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 6,
      spansExported: 0,
      spansDropped: 6,
      exportFailures: exporter.calls,
      queuedSpans: 0,
    });
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('calls back twice: only the first result counts', async () => {
    const w = watch();
    const exporter = new HostileExporter('twice');
    const a = app({ exporter, exportTimeoutMs: 1_000 });
    a.trace();
    await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    // The second callback comes 5 ms later, while the next batch is in flight.
    a.trace(4);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    assert.equal(exporter.spansSeen, 7);
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 7,
      spansExported: 7,
      spansDropped: 0,
      exportFailures: 0,
      queuedSpans: 0,
    });
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('never calls back and keeps the batch and the callback: the export times out and keeps no spans alive', async () => {
    const w = watch();
    const exporter = new HostileExporter('never');
    const a = app({ exporter, exportTimeoutMs: 100 });
    for (let i = 1; i <= 3; i++) {
      a.trace();
      // Trace flushes close together share one call 5 s apart; this one goes now.
      void a.recorder.forceFlush();
      await until(() => a.recorder.stats().spansDropped === 3 * i, 1_000, `trace ${i} times out`);
    }
    assert.ok(exporter.kept.length >= 3, 'the exporter still holds every batch and callback');
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 9,
      spansExported: 0,
      spansDropped: 9,
      exportFailures: exporter.kept.length,
      queuedSpans: 0,
    });
    assert.equal(await a.reachable(), 0, 'abandoned exports hold no spans');
    // A late callback after the timeout changes nothing.
    for (const [, done] of exporter.kept) done({ code: 0 });
    assert.equal(a.recorder.stats().spansExported, 0);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('shutdown() and forceFlush() never settle: both return within exportTimeoutMs', async () => {
    const w = watch();
    const exporter = new HostileExporter('stuck');
    const a = app({ exporter, exportTimeoutMs: 200 });
    a.trace();
    const flushed = await within(a.recorder.forceFlush(), 2_000, 'forceFlush');
    assert.ok(flushed < 200 + SLACK_MS, `forceFlush took ${flushed.toFixed(0)} ms`);
    const took = await within(a.recorder.shutdown(), 2_000, 'shutdown');
    assert.ok(took < 200 + SLACK_MS, `shutdown took ${took.toFixed(0)} ms`);
    assert.equal(a.recorder.shutdown(), a.recorder.shutdown(), 'the same promise again');
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 3,
      spansExported: 3,
      spansDropped: 0,
      exportFailures: 0,
      queuedSpans: 0,
    });
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  // Node ends a process on an unhandled rejection by default: this test file
  // would fail on one.
  test('an async export() that rejects: the batch fails at once, and nothing reaches the app', async () => {
    const w = watch();
    const exporter = new HostileExporter('reject');
    const a = app({ exporter, exportTimeoutMs: 5_000 });
    a.trace();
    const took = await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    assert.ok(took < 1_000, `failed at once, not at the timeout: ${took.toFixed(0)} ms`);
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 3,
      spansExported: 0,
      spansDropped: 3,
      exportFailures: 1,
      queuedSpans: 0,
    });
    // Through FanOutSpanExporter too.
    const fan = app({ exporter: new FanOutSpanExporter([new HostileExporter('reject')]) });
    fan.trace();
    await within(fan.recorder.forceFlush(), 1_000, 'forceFlush');
    assert.equal(fan.recorder.stats().exportFailures, 1);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    await within(fan.recorder.shutdown(), 1_000, 'shutdown');
    w.check();
  });

  test('calls back without a result: the batch counts as failed, and the queue goes on', async () => {
    const w = watch();
    const exporter = new HostileExporter('empty');
    const a = app({ exporter, exportTimeoutMs: 1_000 });
    a.trace();
    await within(a.recorder.forceFlush(), 1_000, 'forceFlush');
    // The next flush is exported (and failed) too, and snapshot() resolves.
    a.trace(2);
    await within(a.recorder.snapshot(), 1_000, 'snapshot');
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 5,
      spansExported: 0,
      spansDropped: 5,
      exportFailures: 2,
      queuedSpans: 0,
    });
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    w.check();
  });

  test('FanOutSpanExporter with one exporter that never calls back: its copies are let go of once the recorder gives up', async () => {
    const w = watch();
    const never = new HostileExporter('never');
    const a = app({
      exporter: new FanOutSpanExporter([never, new HostileExporter('stuck')]),
      exportTimeoutMs: 100,
    });
    for (let i = 1; i <= 3; i++) {
      a.trace();
      void a.recorder.forceFlush();
      await until(() => a.recorder.stats().spansDropped === 3 * i, 1_000, `trace ${i} times out`);
    }
    assert.equal(never.kept.length, 3, 'the hung exporter still holds its copy of every batch');
    // Each copy is emptied at the next export, the last at shutdown.
    const held = () => never.kept.map(([spans]) => spans.length);
    assert.deepEqual(held(), [0, 0, 3]);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.deepEqual(held(), [0, 0, 0], 'abandoned exports hold no spans');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('many small window flushes queued behind an exporter that never answers keep about 2 × maxBytes alive, not a ring each', async () => {
    const w = watch();
    const maxBytes = 1 << 20;
    const before = await arrayBuffers();
    const never = new HostileExporter('never');
    // Every failing root flushes the window: each hands a whole ring over.
    const a = app({
      exporter: never,
      flushScope: 'window',
      minFlushIntervalMs: 0,
      maxTracesPerSecond: 1_000,
      exportTimeoutMs: 2_000,
      maxBytes,
    });
    for (let i = 0; i < 40; i++) {
      a.trace(6);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const held = (await arrayBuffers()) - before;
    // Without compaction: 40 rings, 40 × maxBytes.
    assert.ok(
      held < 3 * maxBytes,
      `queued flushes keep ${(held / maxBytes).toFixed(2)} × maxBytes`,
    );
    assert.equal(a.recorder.stats().queuedSpans + never.spansSeen, 240);
    await within(a.recorder.shutdown(), 3_000, 'shutdown');
    w.check();
  });
});

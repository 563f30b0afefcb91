// Exporters that break their contract, in process. Each scenario asserts:
// nothing thrown at the app, the event loop never blocked long, exact
// counters, no spans kept alive by what the exporter holds, bounded shutdown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { context, type Span, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FanOutSpanExporter, FlightRecorderSpanProcessor } from '../../src/index.js';
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

  test('many snapshot() calls pending behind an exporter that never answers keep about 2 × maxBytes alive, not a ring each', async () => {
    const w = watch();
    const maxBytes = 1 << 20;
    const before = await arrayBuffers();
    const never = new HostileExporter('never');
    const a = app({ exporter: never, exportTimeoutMs: 2_000, maxBytes });
    // Each pending snapshot() awaits its export: it must not hold the ring
    // it detached, which the export queue compacts away. (They settle as
    // the hung exports time out, one after another: not awaited here.)
    for (let i = 0; i < 40; i++) {
      a.trace(6);
      void a.recorder.snapshot('manual');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const held = (await arrayBuffers()) - before;
    assert.ok(
      held < 3 * maxBytes,
      `pending snapshots keep ${(held / maxBytes).toFixed(2)} × maxBytes`,
    );
    await within(a.recorder.shutdown(), 3_000, 'shutdown');
    w.check();
  });

  test('snapshot() waits for its batch in flight, though later flushes drop records queued behind it', async () => {
    const w = watch();
    const never = new HostileExporter('never');
    const recorder = new FlightRecorderSpanProcessor({
      exporter: never,
      runtimeEvents: false,
      minFlushIntervalMs: 0,
      exportTimeoutMs: 60_000,
      exportDelayMs: 0,
      maxBytes: 1 << 20,
      maxExportBatchSize: 100,
    });
    const tracer = new TracerProvider({ spanProcessors: [recorder] }).getTracer('in-flight');
    const burst = (n: number, pad: number) => {
      for (let i = 0; i < n; i++) {
        tracer.startSpan('s', { attributes: { pad: 'x'.repeat(pad) } }).end();
      }
    };
    burst(300, 10);
    let delivered = false;
    const first = recorder.snapshot('first').then(() => (delivered = true));
    await until(() => never.calls === 1, 2_000, 'the first batch in flight');
    // Three larger windows overflow the queue: the first snapshot's queued
    // records are dropped, and so count as gone, while its first batch waits.
    for (let k = 0; k < 3; k++) {
      burst(2_000, 300);
      void recorder.snapshot(`big ${k}`);
      await nextMacrotask();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(recorder.stats().spansDropped > 200);
    assert.equal(never.kept.length, 1);
    assert.equal(delivered, false, 'resolved while its first batch was still in flight');
    // The exporter answers: the first snapshot's batch has left.
    never.misbehaviour = 'empty';
    for (const [, done] of never.kept.splice(0)) done({ code: ExportResultCode.FAILED });
    await within(first, 2_000, 'the first snapshot');
    await within(recorder.shutdown(), 10_000, 'shutdown');
    w.check();
  });

  for (const traces of [2, 40]) {
    test(`late spans of ${traces} flushed traces, interleaving behind an exporter that never answers, keep about maxBytes alive, not a run each`, async (t) => {
      const w = watch();
      const maxBytes = 2 << 20;
      const gc = (globalThis as { gc?: () => void }).gc!;
      const held = async () => {
        for (let i = 0; i < 3; i++) {
          await nextMacrotask();
          gc();
        }
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const never = new HostileExporter('never');
      // Only the recorder: the harness's app keeps a WeakRef per span, which
      // would weigh more than what is measured here.
      const recorder = new FlightRecorderSpanProcessor({
        exporter: never,
        flushScope: 'trace',
        runtimeEvents: false,
        minFlushIntervalMs: 0,
        maxTracesPerSecond: 1_000,
        exportTimeoutMs: 60_000,
        exportDelayMs: 0,
        maxBytes,
        shouldTrigger: (span) => (span.name === 'boom' ? 'boom' : undefined),
      });
      const tracer = new TracerProvider({ spanProcessors: [recorder] }).getTracer('late');
      // Each trace is flushed while its root is open; the first flush goes
      // in flight and never comes back, so every late span waits.
      const roots: Span[] = [];
      for (let k = 0; k < traces; k++) {
        const root = tracer.startSpan(`root ${k}`);
        tracer.startSpan('boom', {}, trace.setSpan(context.active(), root)).end();
        roots.push(root);
      }
      await until(() => never.calls > 0, 2_000, 'the first export');
      const before = await held();
      const late = 80_000;
      for (let i = 0; i < late; i++) {
        const ctx = trace.setSpan(context.active(), roots[i % traces]!);
        tracer.startSpan('late child', { attributes: { 'http.route': '/x', i } }, ctx).end();
        if (i % 5_000 === 0) await nextMacrotask();
      }
      const grown = (await held()) - before;
      const stats = recorder.stats();
      assert.equal(stats.spansLate, late);
      assert.ok(stats.queuedBytes <= maxBytes);
      assert.ok(stats.queuedSpans > 0);
      assert.equal(stats.queuedSpans + stats.spansDropped + never.spansSeen, late + traces);
      t.diagnostic(
        `${(grown / maxBytes).toFixed(2)} × maxBytes kept alive, ${stats.queuedSpans} spans queued`,
      );
      // Before: a run per late span (about 1.5 KB each), 16 × maxBytes with two traces.
      assert.ok(
        grown < 2 * maxBytes,
        `queued late spans keep ${(grown / maxBytes).toFixed(2)} × maxBytes (${stats.queuedSpans} queued)`,
      );
      assert.equal(never.calls, 1, 'the first export still hangs');
      // Let the exporter go, so shutdown need not wait for the hung export.
      never.misbehaviour = 'empty';
      for (const [, done] of never.kept.splice(0)) done({ code: ExportResultCode.FAILED });
      await within(recorder.shutdown(), 10_000, 'shutdown');
      assert.equal(recorder.stats().queuedSpans, 0);
      w.check();
    });
  }
});

// snapshot(), forceFlush() and shutdown() called at once, in every order,
// against a slow collector and a hanging one: all settle, in bounded time,
// without a rejection, and every flushed span is either exported or counted
// as dropped.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type FaultyCollector, startCollector } from './fixtures/collector.js';
import { app, counters, otlp, SLACK_MS, watch, within } from './fixtures/harness.js';

let collector: FaultyCollector;
before(async () => {
  collector = await startCollector();
});
after(() => collector.down());

type Call = 'snapshot' | 'forceFlush' | 'shutdown';
const ORDERS: Call[][] = [
  ['snapshot', 'forceFlush', 'shutdown'],
  ['shutdown', 'snapshot', 'forceFlush'],
  ['forceFlush', 'shutdown', 'snapshot'],
  ['snapshot', 'shutdown', 'shutdown', 'snapshot', 'forceFlush'],
];

describe('racing snapshot(), forceFlush() and shutdown()', () => {
  for (const mode of ['ok', 'hang'] as const) {
    for (const order of ORDERS) {
      test(`${mode === 'ok' ? 'a slow' : 'a hanging'} collector, ${order.join(' + ')}`, async () => {
        collector.mode = mode;
        collector.delayMs = 50;
        const w = watch();
        const exportTimeoutMs = 300;
        const a = app({ exporter: otlp(collector.url, 2_000), exportTimeoutMs });
        for (let i = 0; i < 5; i++) a.trace(3, true);
        a.trace(3, false);
        const started = performance.now();
        const took: Partial<Record<Call, number>> = {};
        const calls = order.map((call) =>
          a.recorder[call]().then(() => {
            took[call] = Math.max(took[call] ?? 0, performance.now() - started);
          }),
        );
        await within(Promise.all(calls), 2 * exportTimeoutMs + 500, order.join(' + '));
        // One batch was in flight: each call waits at most one export
        // timeout, forceFlush the exporter's own forceFlush included.
        assert.ok(took.shutdown! < exportTimeoutMs + SLACK_MS, `shutdown took ${took.shutdown}`);
        assert.ok(took.snapshot! < exportTimeoutMs + SLACK_MS, `snapshot took ${took.snapshot}`);
        assert.ok(took.forceFlush! < exportTimeoutMs + SLACK_MS, `forceFlush ${took.forceFlush}`);
        const stats = a.recorder.stats();
        assert.equal(stats.spansRecorded, 18);
        assert.equal(stats.bufferedSpans, 0);
        assert.equal(stats.queuedSpans, 0);
        // The failing trace was flushed by its trigger; the 15 other spans
        // only by a snapshot that ran before shutdown stopped recording.
        const flushed = stats.spansExported + stats.spansDropped;
        assert.ok(flushed === 3 || flushed === 18, `flushed ${flushed}`);
        if (mode === 'hang') assert.equal(stats.spansExported, 0);
        else assert.equal(stats.spansDropped, 0, 'a slow collector loses nothing');
        // After shutdown: every call still settles at once, and records nothing.
        await within(
          Promise.all([a.recorder.snapshot(), a.recorder.forceFlush(), a.recorder.shutdown()]),
          exportTimeoutMs + 200,
          'calls after shutdown',
        );
        a.trace();
        assert.deepEqual(counters(a.recorder.stats()), counters(stats));
        assert.equal(await a.reachable(), 0);
        w.check();
      });
    }
  }
});

test('snapshot() under steady traffic: it resolves once its own flush is out, while later flushes keep the queue busy', async () => {
  const w = watch();
  let exported = 0;
  // A working exporter, 50 ms a call: trace flushes every 20 ms keep its queue from emptying.
  const slow = {
    export(spans: unknown[], done: (r: { code: number }) => void) {
      setTimeout(() => {
        exported += spans.length;
        done({ code: 0 });
      }, 50);
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  const a = app({ exporter: slow, exportDelayMs: 0, maxTracesPerSecond: 1_000 });
  for (let i = 0; i < 100; i++) a.trace(3, true);
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      a.trace();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const snapshot = a.recorder.snapshot();
    await within(snapshot, 3_000, 'snapshot() under traffic');
    assert.equal((await snapshot).spans, 300);
    assert.ok(exported >= 300, `exported ${exported}`);
    // forceFlush() likewise waits for what was queued when it was called.
    await within(a.recorder.forceFlush(), 3_000, 'forceFlush() under traffic');
  } finally {
    stop = true;
    await traffic;
  }
  await within(a.recorder.shutdown(), 2_000, 'shutdown');
  w.check();
});

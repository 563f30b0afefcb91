// A real OTLPTraceExporter against a collector on loopback that misbehaves.
// Each scenario asserts: nothing thrown at the app, the event loop never
// blocked long, exact counters, no spans kept alive afterwards, and a
// bounded shutdown.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { FaultyCollector, startCollector } from './fixtures/collector.js';
import {
  app,
  counters,
  counting,
  otlp,
  SLACK_MS,
  until,
  watch,
  within,
} from './fixtures/harness.js';

const names = (n: number) => [`child ${n}.1`, `child ${n}.2`, `root ${n}`];

describe('a collector that misbehaves', () => {
  test('down for a while, then up: what was flushed arrives once it is back, or is counted as dropped', async (t) => {
    const collector = new FaultyCollector();
    await collector.up();
    await collector.down();
    t.after(() => collector.down());
    const w = watch();
    // The exporter retries for 2.5 s: long enough for a retry to get through
    // on a loaded machine, short enough to give up while the collector is down.
    const { exporter, seen } = counting(otlp(collector.url, 2_500));
    const a = app({ exporter, exportTimeoutMs: 5_000 });

    // Down for 300 ms: the exporter's first retry (after about 1 s) gets through.
    a.trace();
    await sleep(300);
    await collector.up();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.deepEqual(collector.names(), names(0));

    // Down for longer than the exporter retries: dropped, and counted.
    await collector.down();
    a.trace();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');

    // Back up: the next flush arrives.
    await collector.up();
    a.trace();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.deepEqual(collector.names(), [...names(0), ...names(2)].sort());
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 9,
      spansExported: 6,
      spansDropped: 3,
      exportFailures: seen.failed,
      queuedSpans: 0,
    });
    assert.ok(seen.failed >= 1);
    const took = await within(a.recorder.shutdown(), 5_000, 'shutdown');
    assert.ok(took < 1_000, `shutdown took ${took} ms`);
    assert.equal(await a.reachable(), 0, 'no span outlives its export');
    w.check();
  });

  test('accepts connections and never answers: every export gives up after exportTimeoutMs, keeps no spans alive, and shutdown is bounded', async (t) => {
    const collector = await startCollector();
    t.after(() => collector.down());
    collector.mode = 'hang';
    const w = watch();
    // The exporter's own timeout (10 s) is far longer than the recorder's.
    const { exporter, seen } = counting(otlp(collector.url, 10_000));
    const a = app({ exporter, exportTimeoutMs: 200 });
    for (let i = 1; i <= 4; i++) {
      a.trace();
      // Trace flushes close together share one call 5 s apart; this one goes now.
      void a.recorder.forceFlush();
      await until(() => a.recorder.stats().spansDropped === 3 * i, 2_000, `trace ${i} gives up`);
    }
    assert.ok(seen.calls >= 4);
    assert.equal(collector.requests, seen.calls, 'each batch reached the collector');
    assert.equal(seen.succeeded + seen.failed, 0, 'and none was answered');
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 12,
      spansExported: 0,
      spansDropped: 12,
      exportFailures: seen.calls,
      queuedSpans: 0,
    });
    // The exporter still holds its requests and their callbacks.
    assert.equal(await a.reachable(), 0, 'exports the recorder gave up on hold no spans');

    // forceFlush is bounded by exportTimeoutMs in all, however many batches
    // wait (here 3 calls of one span each, each hanging for its 200 ms).
    const small = app({
      exporter: otlp(collector.url, 10_000),
      exportTimeoutMs: 200,
      maxExportBatchSize: 1,
    });
    small.trace();
    const flushed = await within(small.recorder.forceFlush(), 3_000, 'forceFlush');
    assert.ok(
      flushed < 200 + SLACK_MS,
      `forceFlush took ${flushed.toFixed(0)} ms, exportTimeoutMs is 200`,
    );
    await within(small.recorder.shutdown(), 3_000, 'shutdown');

    a.trace();
    const took = await within(a.recorder.shutdown(), 3_000, 'shutdown');
    assert.ok(took < 200 + SLACK_MS, `shutdown took ${took.toFixed(0)} ms, exportTimeoutMs is 200`);
    assert.equal(a.recorder.stats().spansDropped, 15, 'the flush pending at shutdown is counted');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('never answers, on the default path: the window flush given up on leaves its records unreachable, though the transport still holds the requests', async (t) => {
    const collector = await startCollector();
    t.after(() => collector.down());
    collector.mode = 'hang';
    const w = watch();
    // The default path (no exporter): pre-encoded protobuf through the SDK's
    // transport, configured by env; its own timeout (30 s) outlasts the test,
    // so it holds every request it was handed (30 at most, its limit).
    withEnv(t, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '30000',
    });
    const gc = (globalThis as { gc?: () => void }).gc!;
    const retained = async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(0);
        gc();
      }
      // The ring and the request bodies are array buffers; the heap here
      // also holds the harness's WeakRefs to every span the app ended.
      return process.memoryUsage().arrayBuffers;
    };
    const maxBytes = 4 << 20;
    const before = await retained();
    const a = app({
      flushScope: 'window',
      maxBytes,
      exportTimeoutMs: 50,
      maxExportBatchSize: 64,
    });
    // Until the ring is full (the byte bound starts evicting), yielding as
    // a server does between requests.
    for (let n = 0; a.recorder.stats().spansEvictedByBytes === 0; n++) {
      assert.ok(n < 1_000, 'the ring fills');
      for (let i = 0; i < 100; i++) a.trace(3, true);
      await sleep(0);
    }
    // One failing trace flushes the whole window, its records a ring of
    // maxBytes of their own; every batch of it is given up on.
    a.trace();
    const flushed = a.recorder.stats().queuedSpans;
    assert.ok(flushed > 10_000, `${flushed} spans queued`);
    await until(() => a.recorder.stats().queuedSpans === 0, 20_000, 'the queue gives up');
    const stats = a.recorder.stats();
    assert.equal(stats.spansDropped, flushed);
    assert.ok(
      collector.requests > 0 && collector.requests <= 30,
      `${collector.requests} requests held: at most the transport's concurrency limit`,
    );
    // The new ring and what the transport holds (30 requests of 64 spans),
    // not the flushed window's ring besides: that would be 2 x maxBytes.
    const held = (await retained()) - before;
    assert.ok(held < maxBytes * 1.6, `${(held / maxBytes).toFixed(2)} x maxBytes of array buffers`);
    assert.ok(collector.connections > 0);
    await within(a.recorder.shutdown(), 3_000, 'shutdown');
    // The requests the transport held are closed, not left for its 30 s
    // timeout, and its retries (after 1 s or so) do not connect again.
    await until(() => collector.connections === 0, 2_000, 'the connections close');
    const requests = collector.requests;
    await sleep(1_500);
    assert.deepEqual([collector.connections, collector.requests], [0, requests]);
    w.check();
  });

  for (const withLogs of [false, true]) {
    test(`answers at once, then trickles its body a byte at a time, on the default path${withLogs ? ', for the logs of a flushed trace too' : ''}: shutdown closes the connections the transports still hold`, async (t) => {
      const collector = await startCollector();
      t.after(() => collector.down());
      collector.mode = 'trickle';
      const w = watch();
      // The exporters' own timeout is an idle timeout, which every byte restarts.
      withEnv(t, {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      });
      const a = app({ exportTimeoutMs: 300, exportDelayMs: 0 });
      const logs = withLogs ? a.recorder.logRecordProcessor() : undefined;
      const root = a.tracer.startSpan('root');
      if (logs !== undefined) {
        new LoggerProvider({ processors: [logs] }).getLogger('trickle').emit({
          severityNumber: SeverityNumber.DEBUG,
          body: 'before the failure',
          context: trace.setSpan(context.active(), root),
        });
      }
      root.setStatus({ code: SpanStatusCode.ERROR });
      root.end();
      // One request for the trace's span, and one for its log line.
      const requests = withLogs ? 2 : 1;
      await until(() => collector.requests === requests, 3_000, 'the requests');
      await until(() => a.recorder.stats().exportFailures === 1, 3_000, 'the export gives up');
      await sleep(1_500);
      assert.equal(collector.connections, requests, 'the transports still hold the requests');
      const shutdown = Promise.all([a.recorder.shutdown(), logs?.shutdown()]);
      await within(shutdown, 300 + SLACK_MS, 'shutdown');
      // Before: open for as long as the collector trickles, and the process could not exit.
      await until(() => collector.connections === 0, 2_000, 'the connections close');
      w.check();
    });
  }

  test('503 with Retry-After: honoured within the exporter timeout, else dropped and counted', async (t) => {
    const collector = await startCollector();
    t.after(() => collector.down());
    const w = watch();
    const { exporter, seen } = counting(otlp(collector.url, 3_000));
    // Each trace's export goes at once: the test times the retry from the first attempt.
    const a = app({ exporter, exportTimeoutMs: 5_000, exportDelayMs: 0 });

    collector.mode = '503';
    collector.retryAfterS = 1;
    a.trace();
    await until(() => collector.requests === 1, 2_000, 'first attempt');
    collector.mode = 'ok';
    const retried = await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.ok(retried > 700, `the retry waited for Retry-After (${retried.toFixed(0)} ms)`);
    assert.equal(collector.requests, 2);
    assert.deepEqual(collector.names(), names(0));

    // Retry-After beyond the exporter's timeout: it gives up at once.
    collector.mode = '503';
    collector.retryAfterS = 60;
    a.trace();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.equal(collector.requests, seen.calls + 1, 'one request per call, one retry');
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 6,
      spansExported: 3,
      spansDropped: 3,
      exportFailures: seen.failed,
      queuedSpans: 0,
    });
    assert.ok(seen.failed >= 1);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('resets connections: failed exports are counted and the next one goes through', async (t) => {
    const collector = await startCollector();
    t.after(() => collector.down());
    const w = watch();
    const { exporter, seen } = counting(otlp(collector.url, 500));
    const a = app({ exporter, exportTimeoutMs: 5_000 });

    collector.mode = 'reset';
    a.trace();
    a.trace();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.ok(collector.requests >= 1);
    collector.mode = 'ok';
    a.trace();
    await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
    assert.deepEqual(collector.names(), names(2));
    assert.deepEqual(counters(a.recorder.stats()), {
      spansRecorded: 9,
      spansExported: 3,
      spansDropped: 6,
      exportFailures: seen.failed,
      queuedSpans: 0,
    });
    assert.ok(seen.failed >= 1);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });
});

/** Sets environment variables for one test, restored after it. */
function withEnv(t: { after(fn: () => void): void }, env: Record<string, string>): void {
  for (const [name, value] of Object.entries(env)) {
    const saved = process.env[name];
    process.env[name] = value;
    t.after(() => {
      if (saved === undefined) delete process.env[name];
      else process.env[name] = saved;
    });
  }
}

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  FlightRecorderSpanProcessor,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { startOtlpReceiver } from './helpers/otlp-receiver.js';
import { captureDiag, fail, makeTracing, recordOnlySampler, traceIdOf } from './helpers/tracing.js';

describe('over real HTTP with the real OTLPTraceExporter', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  test('a slow trace, its window and its late child arrive decoded with ids, parent links and marks', async () => {
    receiver.spans.length = 0;
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new OTLPTraceExporter({ url: receiver.url }),
      latencyThresholdMs: 100,
      maxExportBatchSize: 4,
    });
    // Record-only: nothing is sampled, yet flushed spans must arrive.
    const t = makeTracing(recorder, recordOnlySampler, 'integration');
    const now = Date.now();
    const other = t.start('GET /health', now);
    other.end(now + 2);
    const slow = t.start('GET /slow', now);
    const db = t.start('db.query', now + 1, slow);
    t.start('db.fetch', now + 2, db).end(now + 50);
    db.end(now + 60);
    const straggler = t.start('cache.refresh', now + 70, slow);
    slow.end(now + 200);
    straggler.end(now + 250);
    await recorder.forceFlush();
    // The late child goes out after a short gathering delay.
    for (let i = 0; i < 50 && receiver.spans.length < 6; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await recorder.forceFlush();
    }
    const spans = receiver.spans;
    assert.deepEqual(spans.map((s) => s.name).sort(), [
      'GET /health',
      'GET /slow',
      'cache.refresh',
      'db.fetch',
      'db.query',
    ]);
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    const slowId = traceIdOf(slow);
    assert.equal(byName['GET /slow']!.traceId, slowId);
    assert.equal(byName['GET /health']!.traceId, traceIdOf(other));
    assert.equal(byName['GET /slow']!.parentSpanId ?? '', '');
    assert.equal(byName['db.query']!.parentSpanId, slow.spanContext().spanId);
    assert.equal(byName['db.fetch']!.parentSpanId, db.spanContext().spanId);
    assert.equal(byName['cache.refresh']!.parentSpanId, slow.spanContext().spanId);
    const ids = new Set(spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE]));
    assert.equal(ids.size, 1, 'one flush: window, trace and late child share a snapshot id');
    assert.ok(spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'latency'));
    assert.ok(spans.every((s) => s.resource['service.name'] === 'integration'));
    assert.ok(
      spans.every((s) => ((s.flags ?? 1) & 1) === 1),
      'record-only spans go out sampled',
    );
    assert.ok(receiver.requests.length >= 2, 'batched by maxExportBatchSize');
    assert.equal(recorder.stats().spansExported, 5);
    await recorder.shutdown();
  });

  test('an error trace arrives with its status', async () => {
    receiver.spans.length = 0;
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new OTLPTraceExporter({ url: receiver.url }),
      flushScope: 'trace',
    });
    const t = makeTracing(recorder);
    const now = Date.now();
    const root = fail(t.start('POST /pay', now));
    t.start('charge', now, root).end(now + 1);
    root.end(now + 2);
    await recorder.forceFlush();
    const rootSpan = receiver.spans.find((s) => s.name === 'POST /pay');
    assert.equal(rootSpan?.status?.code, 2);
    assert.equal(rootSpan?.status?.message, 'boom');
    assert.equal(rootSpan?.attributes[TRIGGER_ATTRIBUTE], 'error');
    assert.equal(receiver.spans.length, 2);
    await recorder.shutdown();
  });

  test('a collector that is down is reported once and never reaches the app', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const diagnostics = captureDiag();
    try {
      const recorder = new FlightRecorderSpanProcessor({
        exporter: new OTLPTraceExporter({
          url: `http://127.0.0.1:${port}/v1/traces`,
          timeoutMillis: 300,
        }),
        latencyThresholdMs: 10,
        minFlushIntervalMs: 0,
        maxExportBatchSize: 1,
      });
      const t = makeTracing(recorder);
      const now = Date.now();
      for (let i = 0; i < 3; i++) t.start(`slow${i}`, now).end(now + 50);
      await recorder.forceFlush();
      const stats = recorder.stats();
      assert.equal(stats.exportFailures, 3);
      assert.equal(stats.spansDropped, 3);
      const ours = diagnostics.messages.filter((m) => m.message.startsWith('otel-flight-recorder'));
      assert.equal(ours.length, 1);
      assert.equal(ours[0]!.level, 'error');
      await recorder.shutdown();
    } finally {
      diagnostics.restore();
    }
  });
});

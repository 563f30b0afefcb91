import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { FanOutSpanExporter, FlightRecorderSpanProcessor } from '../src/index.js';
import { spanFactory } from './helpers/span-factory.js';
import { TestExporter } from './helpers/test-exporter.js';
import { makeTracing } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;

const makeSpans = spanFactory();

function exportAsync(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult[]> {
  return new Promise((resolve) => {
    const results: ExportResult[] = [];
    exporter.export(spans, (r) => {
      results.push(r);
      // Resolve after a tick so a second callback would be seen.
      setImmediate(() => resolve(results));
    });
  });
}

describe('FanOutSpanExporter', () => {
  test('sends every batch to every exporter and succeeds when all succeed', async () => {
    const a = new TestExporter();
    const b = new TestExporter();
    b.delayMs = 20;
    const spans = makeSpans(3);
    const results = await exportAsync(new FanOutSpanExporter([a, b]), spans);
    assert.deepEqual(results, [{ code: ExportResultCode.SUCCESS }]);
    assert.deepEqual(a.spans, spans);
    assert.deepEqual(b.spans, spans);
    assert.notEqual(a.batches[0], b.batches[0], 'each exporter gets its own array');
  });

  test('fails, once, when one exporter fails, naming which one', async () => {
    const ok = new TestExporter();
    const down = new TestExporter();
    down.mode = 'fail';
    const results = await exportAsync(new FanOutSpanExporter([ok, down]), makeSpans(1));
    assert.equal(results.length, 1);
    assert.equal(results[0]!.code, ExportResultCode.FAILED);
    assert.match(
      results[0]!.error!.message,
      /exporter 2 of 2 \(TestExporter\) failed: collector unavailable/,
    );
    assert.equal(ok.spans.length, 1, 'the others still got the batch');
  });

  test('an exporter that throws counts as failed; several failures are aggregated', async () => {
    const throws = new TestExporter();
    throws.mode = 'throw';
    const fails = new TestExporter();
    fails.mode = 'fail';
    const ok = new TestExporter();
    const results = await exportAsync(new FanOutSpanExporter([throws, fails, ok]), makeSpans(1));
    assert.equal(results.length, 1);
    const error = results[0]!.error as AggregateError;
    assert.ok(error instanceof AggregateError);
    assert.equal(error.errors.length, 2);
    assert.match(error.message, /exporter 1 of 3 .*exporter exploded.*exporter 2 of 3/);
    assert.equal(ok.spans.length, 1);
  });

  test('a callback that answers twice counts once', async () => {
    const twice: SpanExporter = {
      export: (_spans, done) => {
        done({ code: ExportResultCode.SUCCESS });
        done({ code: ExportResultCode.FAILED, error: new Error('again') });
      },
      shutdown: async () => {},
    };
    const slow = new TestExporter();
    slow.delayMs = 10;
    const results = await exportAsync(new FanOutSpanExporter([twice, slow]), makeSpans(1));
    assert.deepEqual(results, [{ code: ExportResultCode.SUCCESS }]);
  });

  test('forwards forceFlush and shutdown to all; shutdown is idempotent', async () => {
    const a = new TestExporter();
    const b = new TestExporter();
    const fanOut = new FanOutSpanExporter([a, b]);
    await fanOut.forceFlush();
    assert.deepEqual([a.forceFlushes, b.forceFlushes], [1, 1]);
    const first = fanOut.shutdown();
    assert.equal(fanOut.shutdown(), first);
    await first;
    assert.deepEqual([a.shutdowns, b.shutdowns], [1, 1]);
  });

  test('forceFlush and shutdown reach every exporter even when one fails, then reject naming it', async () => {
    const broken: SpanExporter = {
      export: (_s, done) => done({ code: ExportResultCode.SUCCESS }),
      forceFlush: () => {
        throw new Error('flush exploded');
      },
      shutdown: () => Promise.reject(new Error('already gone')),
    };
    const ok = new TestExporter();
    const fanOut = new FanOutSpanExporter([broken, ok]);
    await assert.rejects(fanOut.forceFlush(), /exporter 1 of 2 failed to flush: flush exploded/);
    await assert.rejects(fanOut.shutdown(), /exporter 1 of 2 failed to shut down: already gone/);
    assert.equal(ok.forceFlushes, 1);
    assert.equal(ok.shutdowns, 1);
  });

  test('works as the recorder exporter: a collector that is down fails the export, the other still gets it', async () => {
    const down = new TestExporter();
    down.mode = 'fail';
    const files = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new FanOutSpanExporter([down, files]),
      latencyThresholdMs: 100,
    });
    const t = makeTracing(recorder);
    const root = t.start('GET /slow', T0);
    root.end(T0 + 500);
    await recorder.forceFlush();
    assert.equal(files.spans.length, 1);
    assert.equal(recorder.stats().exportFailures, 1);
    await recorder.shutdown();
    assert.deepEqual([down.shutdowns, files.shutdowns], [1, 1]);
  });

  test('rejects an empty list or a non-exporter with a TypeError', () => {
    assert.throws(() => new FanOutSpanExporter([]), /`exporters` to be a non-empty array/);
    assert.throws(
      () => new FanOutSpanExporter([new TestExporter(), {} as SpanExporter]),
      /`exporters\[1\]` to be a SpanExporter/,
    );
  });
});

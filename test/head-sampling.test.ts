import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BatchSpanProcessor,
  createAlwaysRecordSampler,
  InMemorySpanExporter,
  type Sampler,
  SamplingDecision,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor, TRIGGER_ATTRIBUTE } from '../src/index.js';
import { TestExporter } from './helpers/test-exporter.js';

/** Head-samples the traces whose root name starts with "sampled". */
const byName: Sampler = {
  shouldSample: (_ctx, _traceId, name) => ({
    decision: name.startsWith('sampled')
      ? SamplingDecision.RECORD_AND_SAMPLED
      : SamplingDecision.NOT_RECORD,
  }),
  toString: () => 'ByName',
};

for (const skipSampled of [true, false]) {
  test(`beside a head-sampling BatchSpanProcessor, skipSampled=${skipSampled} ${skipSampled ? 'exports each span once' : 'exports sampled spans twice'}`, async () => {
    const batchExporter = new InMemorySpanExporter();
    const recorderExporter = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({
      exporter: recorderExporter,
      latencyThresholdMs: 100,
      minFlushIntervalMs: 0,
      skipSampled,
      // Asserts exactly which spans each exporter got; no real GC among them.
      runtimeEvents: false,
    });
    const provider = new TracerProvider({
      // Records everything, samples as the head sampler says: the recorder sees
      // every span and the BatchSpanProcessor exports only the sampled ones.
      sampler: createAlwaysRecordSampler(byName),
      spanProcessors: [new BatchSpanProcessor({ exporter: batchExporter }), recorder],
    });
    const tracer = provider.getTracer('t');
    const now = Date.now();
    tracer.startSpan('sampled fast', { startTime: now }).end(now + 1);
    tracer.startSpan('unsampled fast', { startTime: now }).end(now + 1);
    tracer.startSpan('sampled slow', { startTime: now }).end(now + 200);
    tracer.startSpan('unsampled slow', { startTime: now + 300 }).end(now + 500);
    await provider.forceFlush();
    const fromBatch = batchExporter.getFinishedSpans().map((s) => s.name);
    const fromRecorder = recorderExporter.spans.map((s) => s.name);
    assert.deepEqual(fromBatch.sort(), ['sampled fast', 'sampled slow']);
    if (skipSampled) {
      // The sampled slow root still triggered: its window of unsampled spans went out.
      assert.deepEqual(fromRecorder.sort(), ['unsampled fast', 'unsampled slow']);
      assert.equal(recorderExporter.spans[0]?.attributes[TRIGGER_ATTRIBUTE], 'latency');
      assert.equal(recorder.stats().flushes, 2);
      const all = [...fromBatch, ...fromRecorder];
      assert.equal(new Set(all).size, all.length, 'no span reaches the backend twice');
    } else {
      assert.deepEqual(fromRecorder.sort(), [
        'sampled fast',
        'sampled slow',
        'unsampled fast',
        'unsampled slow',
      ]);
    }
    await provider.shutdown();
  });
}

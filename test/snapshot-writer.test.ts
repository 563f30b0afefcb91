import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { SNAPSHOT_ID_ATTRIBUTE, SnapshotInProgressError, TRIGGER_ATTRIBUTE } from '../src/index.js';
import { attributesOf, spansOf } from './fixtures/otlp.js';
import { makeRecorder, recordTraces } from './fixtures/recorder.js';
import { SinkStream } from './fixtures/sink-stream.js';

describe('writeSnapshot', () => {
  test('writes the window as one OTLP JSON request, marked, without exporting or removing it', async () => {
    const { recorder, exporter, tracer } = makeRecorder();
    const traceIds = recordTraces(tracer, 4);
    const sink = new SinkStream();

    const result = await recorder.writeSnapshot(sink);

    const body = sink.json();
    const spans = spansOf(body);
    assert.equal(spans.length, 12);
    assert.deepEqual(new Set(spans.map((s) => s.traceId)), new Set(traceIds));
    for (const span of spans) {
      const attributes = attributesOf(span);
      assert.equal(attributes[SNAPSHOT_ID_ATTRIBUTE], result.snapshotId);
      assert.equal(attributes[TRIGGER_ATTRIBUTE], 'snapshot');
    }
    assert.deepEqual(
      { spans: result.spans, traces: result.traces, trigger: result.trigger, bytes: result.bytes },
      { spans: 12, traces: 4, trigger: 'snapshot', bytes: sink.bytes },
    );
    assert.equal(sink.writableEnded, false, 'the stream stays open, as with Go WriteTo');
    await recorder.forceFlush();
    assert.equal(exporter.spans.length, 0, 'nothing exported');
    assert.equal(recorder.stats().bufferedSpans, 12, 'nothing removed');
    await recorder.shutdown();
  });

  test('an empty window is a valid empty request', async () => {
    const { recorder } = makeRecorder();
    const sink = new SinkStream();
    const result = await recorder.writeSnapshot(sink, { trigger: 'signal', end: true });
    assert.deepEqual(sink.json(), { resourceSpans: [] });
    assert.equal(result.spans, 0);
    assert.equal(sink.writableFinished, true, '`end: true` ends the stream');
    await recorder.shutdown();
  });

  test('a large window goes out in slices, each a valid resourceSpans item, and waits for drain', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 700, 3); // 2100 spans: five slices
    const sink = new SinkStream({ highWaterMark: 1024, delayMs: 1 });

    const result = await recorder.writeSnapshot(sink, { trigger: 'signal' });

    assert.equal(spansOf(sink.json()).length, 2100);
    assert.equal(result.traces, 700);
    assert.ok(sink.drains > 0, 'the writer met backpressure and waited for drain');
    assert.ok(sink.maxBuffered < 4 * 1024 * 1024, `buffered at most ${sink.maxBuffered} bytes`);
    for (const span of spansOf(sink.json())) {
      assert.equal(attributesOf(span)[TRIGGER_ATTRIBUTE], 'signal');
    }
    await recorder.shutdown();
  });

  test('a concurrent call rejects with a clear error; the first completes and the next works', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 600, 2);
    const slow = new SinkStream({ highWaterMark: 256, delayMs: 1 });

    const first = recorder.writeSnapshot(slow);
    await assert.rejects(recorder.writeSnapshot(new SinkStream()), (error: unknown) => {
      assert.ok(error instanceof SnapshotInProgressError);
      assert.equal(error.code, 'ERR_FLIGHT_RECORDER_SNAPSHOT_IN_PROGRESS');
      assert.match(error.message, /already being written.*one writeSnapshot runs at a time/);
      return true;
    });
    assert.equal((await first).spans, 1200);
    assert.equal(spansOf(slow.json()).length, 1200);
    const again = new SinkStream();
    assert.equal((await recorder.writeSnapshot(again)).spans, 1200);
    await recorder.shutdown();
  });

  test('a stream that errors half-way rejects, and the recorder keeps recording and writing', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 600, 2);
    const broken = new SinkStream({ failAfterBytes: 50_000 });

    await assert.rejects(recorder.writeSnapshot(broken), /disk on fire/);

    recordTraces(tracer, 1, 2);
    assert.equal(recorder.stats().bufferedSpans, 1202);
    const sink = new SinkStream();
    assert.equal((await recorder.writeSnapshot(sink)).spans, 1202);
    assert.equal(spansOf(sink.json()).length, 1202);
    await recorder.shutdown();
  });

  test('a stream destroyed before the write, or closed mid-way, rejects', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 600, 2);
    const destroyed = new SinkStream();
    destroyed.destroy();
    await assert.rejects(recorder.writeSnapshot(destroyed));

    const whole = new SinkStream();
    await recorder.writeSnapshot(whole);
    // Closed by its own first big write, as a socket the peer closes mid-way:
    // no timer decides whether the write is still under way.
    const closing = new SinkStream({ highWaterMark: 256, closeAfterBytes: 1000 });
    await assert.rejects(
      recorder.writeSnapshot(closing),
      /closed before the snapshot was written|destroyed/,
    );
    assert.ok(closing.bytes > 1000 && closing.bytes < whole.bytes, `${closing.bytes} bytes`);
    await recorder.shutdown();
  });

  test('a late error on a stream nobody else listens to does not crash the process', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 10);
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('first'));
      },
    });
    await assert.rejects(recorder.writeSnapshot(stream), /first/);
    stream.emit('error', new Error('late'));
    await recorder.shutdown();
  });
});

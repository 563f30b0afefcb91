// An app (SDK 2.x or 3.x) importing the packed package as ESM: check:pack and test:compat.
import assert from 'node:assert/strict';
import { InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor, SNAPSHOT_ID_ATTRIBUTE } from 'otel-flight-recorder';

const exporter = new InMemorySpanExporter();
const recorder = new FlightRecorderSpanProcessor({ exporter, latencyThresholdMs: 10 });
const provider = new TracerProvider({ spanProcessors: [recorder] });
const tracer = provider.getTracer('compat');
const now = Date.now();
tracer.startSpan('fast', { startTime: now }).end(now + 1);
tracer.startSpan('slow', { startTime: now }).end(now + 100);
await recorder.forceFlush();
const spans = exporter.getFinishedSpans();
// Runtime events are on by default: a window flush has the runtime track,
// and real GC pauses may be attached; the requests are exactly these.
const requests = spans.filter((s) => s.attributes['flight_recorder.runtime'] !== true);
assert.deepEqual(requests.map((s) => s.name).sort(), ['fast', 'slow']);
assert.ok(
  spans.some((s) => s.name === 'process runtime'),
  'the runtime track',
);
assert.ok(spans.every((s) => typeof s.attributes[SNAPSHOT_ID_ATTRIBUTE] === 'string'));
await provider.shutdown();
console.log('ESM import: ok');

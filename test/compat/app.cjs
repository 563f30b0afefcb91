// An app (SDK 2.x or 3.x) requiring the packed package as CommonJS: check:pack and test:compat.
const assert = require('node:assert/strict');
const { InMemorySpanExporter, TracerProvider } = require('@opentelemetry/sdk-trace');
const { FlightRecorderSpanProcessor } = require('otel-flight-recorder');

const exporter = new InMemorySpanExporter();
const recorder = new FlightRecorderSpanProcessor({ exporter, latencyThresholdMs: 10 });
const provider = new TracerProvider({ spanProcessors: [recorder] });
const now = Date.now();
provider
  .getTracer('compat')
  .startSpan('slow', { startTime: now })
  .end(now + 100);
recorder.forceFlush().then(async () => {
  // Besides the runtime track (runtime events are on by default).
  const spans = exporter.getFinishedSpans();
  const requests = spans.filter((s) => s.attributes['flight_recorder.runtime'] !== true);
  assert.equal(requests.length, 1);
  assert.ok(
    spans.some((s) => s.name === 'process runtime'),
    'the runtime track',
  );
  assert.equal(recorder.stats().flushes, 1);
  await provider.shutdown();
  console.log('CommonJS require: ok');
});

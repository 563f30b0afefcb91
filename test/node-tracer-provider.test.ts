// SDK 2.x only: NodeTracerProvider lives in @opentelemetry/sdk-trace-node, which
// SDK 3.x folded into @opentelemetry/sdk-trace. The compat run leaves this file out.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { FlightRecorderSpanProcessor, TRIGGER_ATTRIBUTE } from '../src/index.js';
import { startOtlpReceiver } from './helpers/otlp-receiver.js';

const receiver = await startOtlpReceiver();
after(() => receiver.close());

test('registered on a NodeTracerProvider, a slow request is exported with its async children', async () => {
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new OTLPTraceExporter({ url: receiver.url }),
    latencyThresholdMs: 30,
    // Asserts exactly which spans are exported; no real GC among them.
    runtimeEvents: false,
  });
  const provider = new NodeTracerProvider({ spanProcessors: [recorder] });
  provider.register();
  const tracer = trace.getTracer('node');
  await tracer.startActiveSpan('GET /orders', async (root) => {
    await Promise.all(
      ['db', 'cache'].map((name) =>
        tracer.startActiveSpan(name, async (child) => {
          await new Promise((r) => setTimeout(r, 40));
          child.end();
        }),
      ),
    );
    root.end();
  });
  await recorder.forceFlush();
  const spans = receiver.spans;
  assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /orders', 'cache', 'db']);
  const root = spans.find((s) => s.name === 'GET /orders')!;
  assert.ok(spans.filter((s) => s !== root).every((s) => s.parentSpanId === root.spanId));
  assert.ok(spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'latency'));
  await provider.shutdown();
  trace.disable();
  context.disable();
});

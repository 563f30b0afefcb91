// tracing.ts — load it before your app: node --import ./tracing.js app.js
import { NodeSDK } from '@opentelemetry/sdk-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';
import { getNodeAutoInstrumentations } from './auto-instrumentations.js';

const sdk = new NodeSDK({
  serviceName: 'checkout',
  // Records every span; exports a trace and its window only when a request is
  // slow (> 500 ms) or fails. The OTLP exporter reads OTEL_EXPORTER_OTLP_*.
  spanProcessors: [new FlightRecorderSpanProcessor({ latencyThresholdMs: 500 })],
  instrumentations: getNodeAutoInstrumentations(),
});
sdk.start();
// A SIGTERM listener replaces Node's default exit, so exit once spans are out.
process.once('SIGTERM', () => {
  sdk.shutdown().finally(() => process.exit(0));
});

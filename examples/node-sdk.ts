// tracing.ts (plain JavaScript: tracing.mjs); load it first: node --import ./tracing.mjs app.js
import { NodeSDK } from '@opentelemetry/sdk-node';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const sdk = new NodeSDK({
  serviceName: 'checkout',
  // Records every span; exports a trace and its window only when a request is slow
  // or fails. Configure it with FLIGHT_RECORDER_* variables; the OTLP exporter
  // reads OTEL_EXPORTER_OTLP_*.
  spanProcessors: [new FlightRecorderSpanProcessor()],
  instrumentations: getNodeAutoInstrumentations(),
});
sdk.start();
// A SIGTERM listener replaces Node's default exit, so exit once spans are out.
// With the collector down this takes the OTLP timeout (10 s), at most exportTimeoutMs (30 s).
process.once('SIGTERM', () => {
  sdk.shutdown().finally(() => process.exit(0));
});

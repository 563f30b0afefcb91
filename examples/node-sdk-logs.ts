// tracing.ts, with logs: every log record is kept, at DEBUG, and a trace's
// records go out (to OTLP /v1/logs) only with that trace's flush.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const recorder = new FlightRecorderSpanProcessor();
const sdk = new NodeSDK({
  serviceName: 'checkout',
  spanProcessors: [recorder],
  logRecordProcessors: [recorder.logRecordProcessor()],
  instrumentations: getNodeAutoInstrumentations(),
});
sdk.start();

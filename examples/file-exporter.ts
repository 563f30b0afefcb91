// The file-exporter snippet of docs/snapshots-and-files.md, type-checked.
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  FanOutSpanExporter,
  FileSpanExporter,
  FlightRecorderSpanProcessor,
} from 'otel-flight-recorder';

const files = new FileSpanExporter({
  directory: '/var/tmp/flight-recorder', // default: $FLIGHT_RECORDER_SNAPSHOT_DIR or ./flight-recorder-snapshots
  maxFiles: 50,
  onWrite: (w) => console.log(w.path ?? `not written: ${w.error?.message}`),
});
const recorder = new FlightRecorderSpanProcessor({
  exporter: new FanOutSpanExporter([new OTLPTraceExporter(), files]),
});
new NodeSDK({ spanProcessors: [recorder] }).start();

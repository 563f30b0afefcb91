// The snippet of docs/head-sampling.md, type-checked.
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  createAlwaysRecordSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const sdk = new NodeSDK({
  sampler: createAlwaysRecordSampler(
    new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }),
  ),
  spanProcessors: [
    new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }),
    new FlightRecorderSpanProcessor({ skipSampled: true }),
  ],
});
sdk.start();

// The snippet of docs/coordination.md, type-checked.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const sdk = new NodeSDK({
  spanProcessors: [
    new FlightRecorderSpanProcessor({ coordination: { redis: 'redis://redis:6379' } }),
  ],
});
sdk.start();

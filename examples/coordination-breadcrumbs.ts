// The breadcrumbs snippet of docs/coordination.md, type-checked.
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { FlightRecorderPropagator, FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const sdk = new NodeSDK({
  textMapPropagator: new CompositePropagator({
    propagators: [
      new W3CTraceContextPropagator(),
      new W3CBaggagePropagator(),
      new FlightRecorderPropagator(),
    ],
  }),
  spanProcessors: [
    new FlightRecorderSpanProcessor({
      coordination: { redis: 'redis://redis:6379', targets: 'breadcrumbs' },
    }),
  ],
});
sdk.start();

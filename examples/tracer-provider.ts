// Without NodeSDK, on either SDK line: sdk-trace's TracerProvider has no
// register(), so set the API's globals yourself.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const recorder = new FlightRecorderSpanProcessor();
const provider = new TracerProvider({ spanProcessors: [recorder] });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

// Later: inspect it, or flush the whole window by hand (the argument is the
// flight_recorder.trigger; the default is 'manual').
console.log(recorder.stats());
await recorder.snapshot('deploy-started');

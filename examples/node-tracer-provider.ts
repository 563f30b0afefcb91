// SDK 2.x without NodeSDK: a NodeTracerProvider with the recorder.
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const recorder = new FlightRecorderSpanProcessor();
const provider = new NodeTracerProvider({ spanProcessors: [recorder] });
provider.register();

// Later: inspect it, or flush the whole window by hand (the argument is the
// flight_recorder.trigger; the default is 'manual').
console.log(recorder.stats());
await recorder.snapshot('deploy-started');

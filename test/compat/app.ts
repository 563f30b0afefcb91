// Type-checks the packed declarations against SDK 3.x types, library checks on.
import { TracerProvider } from '@opentelemetry/sdk-trace';
import {
  type FlightRecorderOptions,
  FlightRecorderSpanProcessor,
  type FlightRecorderStats,
} from 'otel-flight-recorder';

const options: FlightRecorderOptions = {
  latencyThresholdMs: 250,
  shouldTrigger: (span) => (span.attributes['retry'] ? 'retry' : undefined),
};
const recorder = new FlightRecorderSpanProcessor(options);
new TracerProvider({ spanProcessors: [recorder] });
const stats: FlightRecorderStats = recorder.stats();
export const recorded: number = stats.spansRecorded;

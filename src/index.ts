export { FlightRecorderSpanProcessor } from './flight-recorder-span-processor.js';
export { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from './marks.js';
export type {
  BuiltInTrigger,
  FlightRecorderOptions,
  FlightRecorderStats,
  FlushInfo,
  FlushScope,
  SnapshotResult,
} from './options.js';

export { UNFINISHED_ATTRIBUTE } from './crash-dump.js';
export { FanOutSpanExporter } from './fan-out-span-exporter.js';
export type { FileSpanExporterOptions, SnapshotFileWrite } from './file-span-exporter.js';
export { FileSpanExporter } from './file-span-exporter.js';
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
export { DEFAULT_SNAPSHOT_DIR } from './snapshot-files.js';
export type { SnapshotHandler, SnapshotRequest, SnapshotResponse } from './snapshot-handler.js';
export { createSnapshotHandler } from './snapshot-handler.js';
export type { SnapshotWriteResult, WriteSnapshotOptions } from './snapshot-writer.js';
export { SnapshotInProgressError } from './snapshot-writer.js';

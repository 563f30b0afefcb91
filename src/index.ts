export { UNFINISHED_ATTRIBUTE } from './snapshot/crash-dump.js';
export { FanOutSpanExporter } from './export/fan-out-span-exporter.js';
export type { FileSpanExporterOptions, SnapshotFileWrite } from './export/file-span-exporter.js';
export { FileSpanExporter } from './export/file-span-exporter.js';
export { FlightRecorderSpanProcessor } from './flight-recorder-span-processor.js';
export type { FlightRecorderLogRecordProcessor } from './logs/flight-recorder-log-record-processor.js';
export type { RecordedLogRecord } from './logs/log-record.js';
export {
  PERCENTILE_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from './marks.js';
export type {
  BuiltInTrigger,
  FlightRecorderOptions,
  FlightRecorderStats,
  FlushInfo,
  FlushScope,
  LatencyPercentile,
  LogRecordProcessorOptions,
  LogSeverityName,
  LogStats,
  SnapshotResult,
} from './options.js';
export { DEFAULT_SNAPSHOT_DIR } from './snapshot/snapshot-files.js';
export type {
  SnapshotHandler,
  SnapshotRequest,
  SnapshotResponse,
} from './snapshot/snapshot-handler.js';
export { createSnapshotHandler } from './snapshot/snapshot-handler.js';
export type { SnapshotWriteResult, WriteSnapshotOptions } from './snapshot/snapshot-writer.js';
export { SnapshotInProgressError } from './snapshot/snapshot-writer.js';

import type { HrTime, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { LogSeverityName } from '../options.js';

/**
 * What the recorder reads of a log record at `onEmit`: the fields of
 * `@opentelemetry/sdk-logs`' `ReadableLogRecord`, declared here so this
 * package's types never need `@opentelemetry/sdk-logs` (a span-only user
 * does not install it). Both SDK lines' records have this shape.
 */
export interface RecordedLogRecord {
  readonly hrTime: HrTime;
  readonly hrTimeObserved: HrTime;
  readonly spanContext?: SpanContext;
  readonly severityText?: string;
  readonly severityNumber?: number;
  readonly body?: unknown;
  readonly eventName?: string;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  /** `AnyValueMap` of the logs API: attribute values may be any value, nested. */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly droppedAttributesCount: number;
}

/** OpenTelemetry severity numbers (`SeverityNumber` of the logs API), as the recorder needs them. */
export const SEVERITY = {
  TRACE: 1,
  DEBUG: 5,
  INFO: 9,
  WARN: 13,
  ERROR: 17,
  FATAL: 21,
} as const;

const SEVERITY_OF: Readonly<Record<LogSeverityName, number>> = {
  trace: SEVERITY.TRACE,
  debug: SEVERITY.DEBUG,
  info: SEVERITY.INFO,
  warn: SEVERITY.WARN,
  error: SEVERITY.ERROR,
  fatal: SEVERITY.FATAL,
  off: Number.POSITIVE_INFINITY,
};

/** The lowest severity number of the level `name`; `off` is above every severity. */
export function severityNumberOf(name: LogSeverityName): number {
  return SEVERITY_OF[name];
}

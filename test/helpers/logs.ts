import { createRequire } from 'node:module';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { FlightRecorderSpanProcessor } from '../../src/index.js';
import type { EncodedLogsRequest, LogRequestExporter } from '../../src/logs/log-export.js';

const require = createRequire(import.meta.url);

interface ProtoType {
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}

/** `ExportLogsServiceRequest` from opentelemetry-proto, as protobufjs generated it: a decoder that is not ours. */
const root = require('otlp-proto-root/build/src/generated/root.js') as {
  opentelemetry: {
    proto: { collector: { logs: { v1: { ExportLogsServiceRequest: ProtoType } } } };
  };
};
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;

export interface DecodedAnyValue {
  stringValue?: string;
  intValue?: string;
  boolValue?: boolean;
  doubleValue?: number;
  kvlistValue?: { values?: { key: string; value: DecodedAnyValue }[] };
  arrayValue?: { values?: DecodedAnyValue[] };
}

export interface DecodedLogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: DecodedAnyValue;
  attributes?: { key: string; value: DecodedAnyValue }[];
  traceId?: string;
  spanId?: string;
  flags?: number;
  eventName?: string;
}

export interface DecodedLogsRequest {
  resourceLogs?: {
    resource?: { attributes?: { key: string; value: DecodedAnyValue }[] };
    scopeLogs?: { scope?: { name?: string }; logRecords?: DecodedLogRecord[] }[];
  }[];
}

/** Decodes request bytes into a plain object (64-bit numbers as strings, ids as hex). */
export function decodeLogsRequest(bytes: Uint8Array): DecodedLogsRequest {
  const decoded = Request.toObject(Request.decode(bytes), {
    longs: String,
    bytes: Array,
    enums: Number,
    defaults: false,
    arrays: true,
  }) as DecodedLogsRequest;
  for (const rl of decoded.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        const rec = r as { traceId?: unknown; spanId?: unknown };
        if (Array.isArray(rec.traceId)) rec.traceId = Buffer.from(rec.traceId).toString('hex');
        if (Array.isArray(rec.spanId)) rec.spanId = Buffer.from(rec.spanId).toString('hex');
      }
    }
  }
  return decoded;
}

/** Every log record of a decoded request, in order. */
export function logRecordsOf(request: DecodedLogsRequest): DecodedLogRecord[] {
  return (request.resourceLogs ?? []).flatMap((rl) =>
    (rl.scopeLogs ?? []).flatMap((sl) => sl.logRecords ?? []),
  );
}

/** An attribute's string (or int as string) value. */
export function attr(record: DecodedLogRecord, key: string): string | undefined {
  const v = record.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue;
}

/** A log request exporter that decodes and keeps what it is sent; `fail` makes it fail. */
export class TestLogExporter implements LogRequestExporter {
  readonly requests: DecodedLogsRequest[] = [];
  fail = false;
  shutdowns = 0;

  get records(): DecodedLogRecord[] {
    return this.requests.flatMap(logRecordsOf);
  }

  export(request: EncodedLogsRequest, done: (result: ExportResult) => void): void {
    if (this.fail) {
      done({ code: ExportResultCode.FAILED, error: new Error('collector unavailable') });
      return;
    }
    this.requests.push(decodeLogsRequest(request.body));
    done({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }
}

/** A real SDK LoggerProvider over the recorder's log processor, with a test exporter for its requests. */
export function makeLogging(
  recorder: FlightRecorderSpanProcessor,
  exporter = new TestLogExporter(),
) {
  recorder._logExporter = exporter;
  const processor = recorder.logRecordProcessor();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'logs-test' }),
    processors: [processor],
  });
  return { provider, processor, exporter, logger: provider.getLogger('test-logger') };
}

import type { ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

/** The config the SDK's OTLP/HTTP exporters take; typed this way because its type moved between 0.223 and 0.30x. */
export type OtlpHttpConfig = Parameters<typeof convertLegacyHttpOptions>[0];

/** An `ExportTraceServiceRequest` already encoded, and how many spans it holds. */
export interface EncodedRequest {
  readonly body: Uint8Array;
  readonly spans: number;
}

/** Passes the request bytes through: the flush assembled them. */
const serializer = {
  serializeRequest: (request: EncodedRequest): Uint8Array => request.body,
  deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
};

const metricsHelper = {
  name: 'span' as const,
  countItems: (request: EncodedRequest): number => request.spans,
};

/**
 * Sends pre-encoded OTLP protobuf requests through the SDK's own OTLP/HTTP
 * transport, as `@opentelemetry/exporter-trace-otlp-proto` does with its
 * serializer: `OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,TIMEOUT,COMPRESSION,…}`,
 * gzip, retries with backoff and `Retry-After`, and timeouts all apply.
 *
 * The transport keeps the body for its retries: hand it an array nothing
 * will write to again (assembled requests are always fresh arrays).
 */
export class OtlpProtoRequestExporter {
  private readonly _base: OTLPExporterBase<EncodedRequest>;

  constructor(config: OtlpHttpConfig = {}) {
    this._base = new OTLPExporterBase(
      createOtlpHttpExportDelegate(
        convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
          'Content-Type': 'application/x-protobuf',
        }),
        serializer,
        'otlp_http_span_exporter',
        metricsHelper,
        undefined,
      ),
    );
  }

  export(request: EncodedRequest, done: (result: ExportResult) => void): void {
    this._base.export(request, done);
  }

  forceFlush(): Promise<void> {
    return this._base.forceFlush();
  }

  shutdown(): Promise<void> {
    return this._base.shutdown();
  }
}

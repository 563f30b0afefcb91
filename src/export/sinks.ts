import { context } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { assembleParts, marksOf } from '../flush/request.js';
import { LIVE } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import { callExporter } from './call-exporter.js';
import type { RecordBatch, RecordSink } from './export-queue.js';
import type { EncodedRequest, OtlpProtoRequestExporter } from './otlp-proto-exporter.js';
import { decodeRecord } from './span-decoder.js';

/** A request body larger than this is not kept for the next request. */
const MAX_SPARE_BYTES = 4 * 1024 * 1024;

/** Resources of the batch still detecting attributes: their promises. */
function pendingResources(
  batch: RecordBatch,
  table: ResourceScopeTable,
): Promise<void>[] | undefined {
  let pending: Promise<void>[] | undefined;
  let seen: unknown;
  for (const { run, from, to } of batch.parts) {
    for (let k = from; k < to; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      const resource = table.resource(run.pair[slot]!);
      if (resource === seen || !resource.asyncAttributesPending) continue;
      seen = resource;
      if (resource.waitForAsyncAttributes) {
        (pending ??= []).push(resource.waitForAsyncAttributes());
      }
    }
  }
  return pending;
}

/** The batch's records as spans, with their flush's marks. */
export function decodeBatch(batch: RecordBatch, table: ResourceScopeTable): ReadableSpan[] {
  const spans: ReadableSpan[] = new Array(batch.count);
  let n = 0;
  for (const { run, from, to } of batch.parts) {
    for (let k = from; k < to; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      spans[n++] = decodeRecord(run, slot, table, true);
    }
  }
  spans.length = n;
  return spans;
}

/**
 * The default path: records go out as they are, in an OTLP protobuf request
 * assembled around them, through the SDK's OTLP/HTTP transport. Nothing is
 * re-serialized.
 */
export class OtlpProtoSink implements RecordSink {
  /**
   * The memory of the last request the collector accepted, for the next
   * one: one request body is allocated per few batches, not one per batch,
   * so a window flush does not push V8 into major collections (request
   * bodies are external memory, which V8 collects by its growth).
   */
  private _spare: Uint8Array | undefined;

  constructor(
    private readonly _exporter: OtlpProtoRequestExporter,
    private readonly _table: ResourceScopeTable,
  ) {}

  send(batch: RecordBatch, done: (result: ExportResult) => void): undefined {
    const body = assembleParts(batch.parts, this._table, marksOf, this._spare);
    this._spare = undefined;
    // No closure below may name `batch`: closures of one call share its
    // variables, so the transport, holding `settled` until its own timeout,
    // would hold the batch's records, and through them a flushed window's
    // whole ring, long after the export was given up on.
    const request: EncodedRequest = { body, spans: batch.count };
    const settled = (result: ExportResult): void => {
      // Only an accepted request's memory is used again: the collector has
      // read all of it and the transport retries no more. A failed or
      // abandoned one may still be held or retried by the transport.
      if (result.code === ExportResultCode.SUCCESS && body.buffer.byteLength <= MAX_SPARE_BYTES) {
        this._spare = new Uint8Array(body.buffer);
      }
      done(result);
    };
    context.with(suppressTracing(context.active()), () => this._exporter.export(request, settled));
    return undefined;
  }

  pending(batch: RecordBatch): Promise<void>[] | undefined {
    return pendingResources(batch, this._table);
  }

  forceFlush(): Promise<void> {
    return this._exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this._exporter.shutdown();
  }

  release(): void {
    this._exporter.release();
  }
}

/**
 * Any other `SpanExporter` (a file, the console, gRPC, a vendor's): the
 * batch's records are decoded into spans for it, one batch at a time, so
 * the objects die young.
 */
export class SpanExporterSink implements RecordSink {
  constructor(
    readonly exporter: SpanExporter,
    private readonly _table: ResourceScopeTable,
  ) {}

  send(batch: RecordBatch, done: (result: ExportResult) => void): () => void {
    const spans = decodeBatch(batch, this._table);
    context.with(suppressTracing(context.active()), () => callExporter(this.exporter, spans, done));
    // The exporter may hold the array: emptied when the export is abandoned.
    return () => {
      spans.length = 0;
    };
  }

  pending(batch: RecordBatch): Promise<void>[] | undefined {
    return pendingResources(batch, this._table);
  }

  async forceFlush(): Promise<void> {
    await this.exporter.forceFlush?.();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}

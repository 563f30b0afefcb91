import { context, diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, suppressTracing } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { asResult } from '../export/call-exporter.js';
import { type OtlpHttpConfig, OwnedAgents } from '../export/otlp-proto-exporter.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import { timerDelay } from '../timer.js';
import { RequestSize } from '../flush/request-layout.js';
import { assembleLogsRequest, type LogBatch } from './log-request.js';

/** An `ExportLogsServiceRequest` already encoded, and how many log records it holds. */
export interface EncodedLogsRequest {
  readonly body: Uint8Array;
  readonly logs: number;
}

/** Where assembled log requests go: the SDK's OTLP/HTTP transport, or a test double. */
export interface LogRequestExporter {
  export(request: EncodedLogsRequest, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  /** Closes its connections once the processor has shut down (see {@link OwnedAgents}). */
  release?(): void;
}

const serializer = {
  serializeRequest: (request: EncodedLogsRequest): Uint8Array => request.body,
  deserializeResponse: (data: Uint8Array) => ProtobufLogsSerializer.deserializeResponse(data),
};

const metricsHelper = {
  name: 'log' as const,
  countItems: (request: EncodedLogsRequest): number => request.logs,
};

/**
 * Sends pre-encoded OTLP protobuf logs requests to `/v1/logs` through the
 * SDK's own OTLP/HTTP transport, as `@opentelemetry/exporter-logs-otlp-proto`
 * does: `OTEL_EXPORTER_OTLP_[LOGS_]{ENDPOINT,HEADERS,TIMEOUT,COMPRESSION,…}`,
 * gzip, retries and timeouts apply.
 */
export class OtlpProtoLogsExporter implements LogRequestExporter {
  private readonly _base: OTLPExporterBase<EncodedLogsRequest>;
  private readonly _agents = new OwnedAgents();

  constructor(config: OtlpHttpConfig = {}) {
    this._base = new OTLPExporterBase(
      createOtlpHttpExportDelegate(
        this._agents.wrap(
          convertLegacyHttpOptions(config, 'LOGS', 'v1/logs', {
            'Content-Type': 'application/x-protobuf',
          }),
          config,
        ),
        serializer,
        'otlp_http_log_exporter',
        metricsHelper,
        undefined,
      ),
    );
  }

  export(request: EncodedLogsRequest, done: (result: ExportResult) => void): void {
    this._base.export(request, done);
  }

  forceFlush(): Promise<void> {
    return this._base.forceFlush();
  }

  shutdown(): Promise<void> {
    return this._base.shutdown();
  }

  release(): void {
    this._agents.destroy();
  }
}

/** What the log export queue counts; shared with the stats. */
export interface LogExportCounters {
  logsExported: number;
  logsDropped: number;
  logExportFailures: number;
}

interface Queued {
  readonly batch: LogBatch;
  cursor: number;
}

/**
 * Log batches waiting for export, and the one loop that exports them: one
 * request at a time, at most `batchSize` records and `batchBytes` each, one request per
 * event-loop turn, under `suppressTracing`. Bounded by `maxBytes`: when the
 * exporter cannot keep up the oldest waiting batches are dropped and counted
 * (the newest is never cut). A call that outlives `timeoutMs` counts as
 * failed and the next one may go.
 */
export class LogExportQueue {
  private readonly _queue: Queued[] = [];
  private _bytes = 0;
  private _busy = false;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _idle: (() => void)[] = [];
  private _warned = false;
  private _closed = false;
  /** The call in flight, whose batch is held until it settles. */
  private _current: { batch: LogBatch | undefined } | undefined;

  constructor(
    private readonly _exporter: LogRequestExporter,
    private readonly _table: ResourceScopeTable,
    private readonly _o: {
      maxBytes: number;
      batchSize: number;
      /** The most bytes per request on the wire, headers and marks included (a larger record goes alone). */
      batchBytes?: number;
      timeoutMs: number;
    },
    readonly counters: LogExportCounters,
  ) {}

  /** Records waiting, not yet handed to the exporter. */
  get length(): number {
    let n = 0;
    for (const q of this._queue) n += q.batch.count - q.cursor;
    return n;
  }

  get bytes(): number {
    return this._bytes;
  }

  enqueue(batch: LogBatch): void {
    if (batch.count === 0) return;
    if (this._closed) {
      this.counters.logsDropped += batch.count;
      return;
    }
    this._queue.push({ batch, cursor: 0 });
    this._bytes += batch.buf.length;
    // The oldest batches go first; the newest is never cut.
    while (this._bytes > this._o.maxBytes && this._queue.length > 1) {
      const old = this._queue.shift()!;
      this._bytes -= old.batch.buf.length;
      this.counters.logsDropped += old.batch.count - old.cursor;
    }
    this.schedule();
  }

  schedule(): void {
    if (this._busy || this._timer !== undefined || this._queue.length === 0) return;
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._next();
    }, 0);
    // While someone waits for the queue (a shutdown), the next request keeps
    // the process alive: else it could exit between two requests.
    if (this._idle.length === 0) this._timer.unref();
  }

  /** Calls `fn` with the resource and scope pair of every record waiting or in flight. */
  forEachPendingPair(fn: (pair: number) => void): void {
    const current = this._current?.batch;
    if (current !== undefined) for (let k = 0; k < current.count; k++) fn(current.pair[k]!);
    for (const q of this._queue)
      for (let k = q.cursor; k < q.batch.count; k++) fn(q.batch.pair[k]!);
  }

  /** Resolves when nothing waits and no export runs. */
  whenIdle(): Promise<void> {
    if (!this._busy && this._queue.length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this._idle.push(resolve));
    // Someone is waiting (a shutdown, say): start now rather than on an
    // unref'd timer that would let the process exit first.
    if (!this._busy) {
      if (this._timer !== undefined) clearTimeout(this._timer);
      this._timer = undefined;
      this._next();
    }
    return idle;
  }

  /** Drops what waits (counted) and stops taking batches; a call in flight finishes. */
  close(): void {
    this._closed = true;
    for (const q of this._queue.splice(0)) this.counters.logsDropped += q.batch.count - q.cursor;
    this._bytes = 0;
    if (this._timer !== undefined) clearTimeout(this._timer);
    this._timer = undefined;
    if (!this._busy) this._settle();
  }

  private _settle(): void {
    if (this._busy || this._queue.length > 0) return;
    for (const resolve of this._idle.splice(0)) resolve();
  }

  private _next(): void {
    const q = this._queue[0];
    if (q === undefined || this._busy) {
      this._settle();
      return;
    }
    const from = q.cursor;
    const to = batchEnd(q.batch, from, this._o.batchSize, this._o.batchBytes, this._table);
    q.cursor = to;
    if (to === q.batch.count) {
      this._queue.shift();
      this._bytes -= q.batch.buf.length;
    }
    const count = to - from;
    this._busy = true;
    const call = this._call(count, q.batch);
    this._current = call;
    const done = call.done;
    // `send` may wait on a resource that never settles: it reaches the batch
    // only through `call`, which lets go of it when the call is given up on.
    const send = (): void => {
      const batch = call.batch;
      // Given up on while a resource was still detecting attributes: its
      // records are counted as dropped, and the next export may be running.
      if (call.finished || batch === undefined) return;
      try {
        const body = assembleLogsRequest(batch, from, to, this._table);
        context.with(suppressTracing(context.active()), () => {
          this._exporter.export({ body, logs: count }, done);
        });
      } catch (error) {
        done({ code: ExportResultCode.FAILED, error: error as Error });
      }
    };
    const pending = this._pendingResources(q.batch, from, to);
    if (pending.length === 0) send();
    else
      Promise.all(pending).then(send, (error: unknown) =>
        done({ code: ExportResultCode.FAILED, error: error as Error }),
      );
  }

  /**
   * One export of `count` records: its callback and its timeout. Made here,
   * not in {@link _next}: closures of one call share its variables, and the
   * exporter holds the callback until its own timeout, so it must reach
   * nothing of the batch (a flush's records, up to `maxBytes`).
   */
  private _call(
    count: number,
    batch: LogBatch,
  ): {
    readonly done: (result: ExportResult | undefined) => void;
    finished: boolean;
    batch: LogBatch | undefined;
  } {
    const call = {
      finished: false,
      batch: batch as LogBatch | undefined,
      done: (answer: ExportResult | undefined): void => {
        if (call.finished) return;
        call.finished = true;
        call.batch = undefined;
        clearTimeout(timer);
        this._busy = false;
        const result = asResult(answer);
        if (result.code === ExportResultCode.SUCCESS) {
          this.counters.logsExported += count;
          this._warned = false;
        } else {
          this.counters.logsDropped += count;
          this.counters.logExportFailures++;
          if (!this._warned) {
            this._warned = true;
            diag.error(
              `otel-flight-recorder: exporting ${count} log records failed (further failures in this burst are silent): ${result.error ?? 'timed out'}`,
            );
          }
        }
        this.schedule();
        this._settle();
      },
    };
    const timer = setTimeout(
      () => call.done({ code: ExportResultCode.FAILED }),
      timerDelay(this._o.timeoutMs),
    );
    timer.unref();
    return call;
  }

  /** Resources of records `[from, to)` still detecting attributes: the request waits for them. */
  private _pendingResources(batch: LogBatch, from: number, to: number): Promise<void>[] {
    const out: Promise<void>[] = [];
    const seen = new Set<number>();
    for (let k = from; k < to; k++) {
      const pair = batch.pair[k]!;
      if (seen.has(pair)) continue;
      seen.add(pair);
      const resource = this._table.resource(pair) as {
        asyncAttributesPending?: boolean;
        waitForAsyncAttributes?: () => Promise<void>;
      };
      if (resource.asyncAttributesPending && resource.waitForAsyncAttributes !== undefined) {
        out.push(resource.waitForAsyncAttributes());
      }
    }
    return out;
  }
}

/**
 * Where a request starting at record `from` ends: at most `count` records,
 * and at most `maxBytes` on the wire, each record with its marks and the
 * request's resource and scope headers (at least one record).
 */
export function batchEnd(
  batch: LogBatch,
  from: number,
  count: number,
  maxBytes: number | undefined,
  table: ResourceScopeTable,
): number {
  const last = Math.min(batch.count, from + count);
  if (maxBytes === undefined || maxBytes === Number.POSITIVE_INFINITY) return last;
  const marks = batch.marks?.length ?? 0;
  const size = new RequestSize(table);
  let to = from;
  while (to < last) {
    const pair = batch.pair[to]!;
    const cost = size.cost(pair, batch.len[to]! + marks);
    if (to > from && size.bytes + cost > maxBytes) break;
    size.add(pair, cost);
    to++;
  }
  return to;
}

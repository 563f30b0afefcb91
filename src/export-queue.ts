import { context, diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { type FlushMark, markSpan } from './marks.js';
import { SpanDeque } from './span-deque.js';

/**
 * The synchronous work of one batch (marking its spans and the exporter's
 * serialization) aims at this many milliseconds, so a flush of a full window
 * never blocks the event loop for long. Batches shrink below the batch size
 * when spans are slow to serialize and grow back when they are not.
 */
const SLICE_BUDGET_MS = 5;
/** Assumed cost of a span before one batch has been timed (cold JIT). */
const INITIAL_MS_PER_SPAN = 0.03;

/** The counters the queue keeps, shared with the recorder's stats. */
export interface ExportCounters {
  spansExported: number;
  spansDropped: number;
  exportFailures: number;
}

/**
 * Spans waiting for export, and the one loop that exports them.
 *
 * Invariants: at most one `exporter.export` call is outstanding at a time
 * (a call that outlives `timeoutMs` counts as failed and releases the loop);
 * queued bytes exceed `maxBytes` only by the newest flush or span, which is
 * never cut (older spans are dropped first);
 * batches go out one per macrotask, so a large flush never blocks the event
 * loop for longer than one batch takes to serialize, and batches shrink below
 * the batch size when spans are slow to serialize (see SLICE_BUDGET_MS).
 */
export class ExportQueue {
  private readonly _queue = new SpanDeque<FlushMark>();
  private _inFlight = false;
  private _scheduled: ReturnType<typeof setTimeout> | undefined;
  private _idleWaiters: (() => void)[] = [];
  private _failing = false;
  private _overflowing = false;
  /** Smoothed synchronous cost of exporting one span, in ms. */
  private _msPerSpan = INITIAL_MS_PER_SPAN;

  constructor(
    private readonly _exporter: SpanExporter,
    private readonly _maxBytes: number,
    private readonly _batchSize: number,
    private readonly _timeoutMs: number,
    private readonly _counters: ExportCounters,
  ) {}

  get length(): number {
    return this._queue.length;
  }

  get bytes(): number {
    return this._queue.bytes;
  }

  /** Adds a span; drops the oldest queued spans when over `maxBytes`. */
  push(span: ReadableSpan, mark: FlushMark, size: number, time: number): void {
    this._queue.push(span, mark, size, time);
    this._bound();
  }

  /** The deque to move spans into directly; call {@link bound} after. */
  get deque(): SpanDeque<FlushMark> {
    return this._queue;
  }

  /**
   * Applies the byte bound after `added` spans were moved in through
   * {@link deque}. Only older spans are dropped: a flush is never cut, so the
   * queue holds at most `maxBytes` or the newest flush, whichever is larger.
   */
  bound(added = 0): void {
    this._bound(added);
  }

  /** Starts exporting after `delayMs`, unless already under way. */
  schedule(delayMs = 0): void {
    if (this._inFlight || this._scheduled !== undefined) return;
    this._scheduled = setTimeout(() => {
      this._scheduled = undefined;
      this._next();
    }, delayMs);
    this._scheduled.unref();
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this._inFlight && this._queue.length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this._idleWaiters.push(resolve));
    // Someone is waiting: start now rather than on an unref'd timer that
    // would let the process exit first.
    if (!this._inFlight) {
      clearTimeout(this._scheduled);
      this._scheduled = undefined;
      this._next();
    }
    return idle;
  }

  /** Drops everything still queued, counting it. */
  discard(): void {
    this._counters.spansDropped += this._queue.length;
    this._queue.clear();
    if (this._scheduled !== undefined) clearTimeout(this._scheduled);
    this._scheduled = undefined;
    if (!this._inFlight) this._settleIdle();
  }

  private _bound(keep = 1): void {
    let dropped = 0;
    while (this._queue.bytes > this._maxBytes && this._queue.length > keep) {
      this._queue.shift();
      dropped++;
    }
    if (dropped === 0) return;
    this._counters.spansDropped += dropped;
    if (!this._overflowing) {
      this._overflowing = true;
      diag.warn(
        `otel-flight-recorder: the exporter cannot keep up; dropping the oldest spans waiting for export (more drops are counted in stats().spansDropped)`,
      );
    }
  }

  private _next(): void {
    if (this._inFlight) return;
    if (this._queue.length === 0) {
      this._overflowing = false;
      this._settleIdle();
      return;
    }
    const slice = Math.max(1, Math.floor(SLICE_BUDGET_MS / this._msPerSpan));
    const n = Math.min(this._batchSize, this._queue.length, slice);
    const started = performance.now();
    const batch: ReadableSpan[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const mark = this._queue.headTag()!;
      batch[i] = markSpan(this._queue.shift()!, mark);
    }
    this._inFlight = true;
    let settled = false;
    const done = (result: ExportResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this._inFlight = false;
      this._record(result, n);
      // The next batch waits for a macrotask so the app runs between batches.
      setImmediate(() => this._next());
    };
    const timer = setTimeout(
      () =>
        done({
          code: ExportResultCode.FAILED,
          error: new Error(`export timed out after ${this._timeoutMs} ms`),
        }),
      this._timeoutMs,
    );
    timer.unref();
    try {
      context.with(suppressTracing(context.active()), () => this._exporter.export(batch, done));
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
    this._msPerSpan = (this._msPerSpan + (performance.now() - started) / n) / 2;
  }

  private _record(result: ExportResult, n: number): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this._counters.spansExported += n;
      this._failing = false;
      return;
    }
    this._counters.spansDropped += n;
    this._counters.exportFailures++;
    if (!this._failing) {
      this._failing = true;
      diag.error(
        `otel-flight-recorder: export failed: ${result.error?.message ?? 'unknown error'} (more failures are counted in stats().exportFailures until an export succeeds)`,
      );
    }
  }

  private _settleIdle(): void {
    const waiters = this._idleWaiters;
    if (waiters.length === 0) return;
    this._idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

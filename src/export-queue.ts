import { context, diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { type FlushMark, markSpan } from './marks.js';
import { hexIds, repair } from './sanitize.js';
import { SpanDeque } from './span-deque.js';
import { timerDelay } from './timer.js';

/**
 * The synchronous work of one batch (marking its spans and the exporter's
 * serialization) aims at this many milliseconds, so a flush of a full window
 * never blocks the event loop for long. Batches shrink below the batch size
 * when spans are slow to serialize and grow back when they are not.
 */
const SLICE_BUDGET_MS = 5;
/** Assumed cost of a span before one batch has been timed (cold JIT). */
const INITIAL_MS_PER_SPAN = 0.03;

/** Spans of one flush, in end order, waiting for export under its mark. */
interface Segment {
  readonly spans: SpanDeque<string>;
  readonly mark: FlushMark;
}

/** The counters the queue keeps, shared with the recorder's stats. */
export interface ExportCounters {
  spansExported: number;
  spansDropped: number;
  exportFailures: number;
}

/**
 * Spans waiting for export, and the one loop that exports them.
 *
 * The queue is a FIFO of segments, one per flush, so a window flush hands
 * the whole buffer over in O(1) instead of moving it span by span while the
 * app waits.
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
  private readonly _segments: Segment[] = [];
  private _length = 0;
  private _bytes = 0;
  private _inFlight = false;
  private _scheduled: ReturnType<typeof setTimeout> | undefined;
  /** The export call in flight, if any. */
  private _current: ExportCall | undefined;
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
    return this._length;
  }

  get bytes(): number {
    return this._bytes;
  }

  /** Adds one late span of an earlier flush; drops the oldest queued spans when over `maxBytes`. */
  push(span: ReadableSpan, traceId: string, mark: FlushMark, size: number, time: number): void {
    let last = this._segments[this._segments.length - 1];
    if (last === undefined || last.mark !== mark) {
      last = { spans: new SpanDeque<string>(16), mark };
      this._segments.push(last);
    }
    last.spans.push(span, traceId, size, time);
    this._length++;
    this._bytes += size;
    this._bound(1);
  }

  /**
   * Takes over `parts`, oldest first (the caller must not use them again), as
   * one flush under `mark`. Only older spans are dropped to stay under
   * `maxBytes`: a flush is never cut, so the queue holds at most `maxBytes`
   * or the newest flush, whichever is larger.
   */
  enqueue(parts: readonly SpanDeque<string>[], mark: FlushMark): void {
    let added = 0;
    for (const spans of parts) {
      if (spans.length === 0) continue;
      this._segments.push({ spans, mark });
      added += spans.length;
      this._bytes += spans.bytes;
    }
    this._length += added;
    this._bound(added);
  }

  /** Starts exporting after `delayMs`, unless already under way. */
  schedule(delayMs = 0): void {
    if (this._inFlight || this._scheduled !== undefined) return;
    this._scheduled = setTimeout(() => {
      this._scheduled = undefined;
      this._next();
    }, timerDelay(delayMs));
    this._scheduled.unref();
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this._inFlight && this._length === 0) return Promise.resolve();
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
    this._counters.spansDropped += this._length;
    this._segments.length = 0;
    this._length = 0;
    this._bytes = 0;
    if (this._scheduled !== undefined) clearTimeout(this._scheduled);
    this._scheduled = undefined;
    if (!this._inFlight) this._settleIdle();
  }

  /** Removes the oldest queued span, returning it with its mark. */
  private _shift(): [ReadableSpan, FlushMark] {
    const head = this._segments[0]!;
    const size = head.spans.headSize();
    const span = head.spans.shift()!;
    if (head.spans.length === 0) this._segments.shift();
    this._length--;
    this._bytes = this._length === 0 ? 0 : this._bytes - size;
    return [span, head.mark];
  }

  private _bound(keep: number): void {
    let dropped = 0;
    while (this._bytes > this._maxBytes && this._length > keep) {
      this._shift();
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
    if (this._length === 0) {
      this._overflowing = false;
      this._settleIdle();
      return;
    }
    const slice = Math.max(1, Math.floor(SLICE_BUDGET_MS / this._msPerSpan));
    const n = Math.min(this._batchSize, this._length, slice);
    const started = performance.now();
    const batch: ReadableSpan[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const [span, mark] = this._shift();
      // Invariant: no span a collector would reject (ids that are not hex)
      // goes out, since it would take the whole request down with it.
      batch[i] = markSpan(hexIds(span) ? span : repair(span, Date.now()), mark);
    }
    this._inFlight = true;
    const call = new ExportCall(this, batch, this._timeoutMs);
    this._current = call;
    call.start(this._exporter);
    this._msPerSpan = (this._msPerSpan + (performance.now() - started) / n) / 2;
  }

  /** @internal Called once by the export call in flight when it settles. */
  _settled(call: ExportCall, result: ExportResult, n: number): void {
    if (this._current === call) this._current = undefined;
    this._inFlight = false;
    this._record(result, n);
    // The next batch waits for a macrotask so the app runs between batches.
    setImmediate(() => this._next());
  }

  /**
   * Calls `fn` with every span not yet delivered, oldest first: the batch in
   * flight, then the queued spans. For crash dumps.
   */
  forEachPending(fn: (span: ReadableSpan) => void): void {
    this._current?.batch?.forEach((span) => fn(span));
    for (const segment of this._segments) segment.spans.forEach((span) => fn(span));
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

/**
 * One `exporter.export` call and its timeout.
 *
 * Invariant: once the call settles (the exporter called back, threw, or the
 * timeout fired), nothing the exporter may still hold reaches the batch's
 * spans. The callback handed to the exporter holds only this object, which
 * lets go of the batch when it settles; on a timeout the batch array itself
 * (which the exporter was given) is emptied, so an exporter that keeps the
 * array or the callback for a long time, such as an OTLP exporter retrying
 * against a collector that never answers, keeps no spans alive.
 */
class ExportCall {
  batch: ReadableSpan[] | undefined;
  private readonly _n: number;
  private _queue: ExportQueue | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;

  constructor(queue: ExportQueue, batch: ReadableSpan[], timeoutMs: number) {
    this._queue = queue;
    this.batch = batch;
    this._n = batch.length;
    this._timer = setTimeout(() => {
      // The exporter may hold the array: empty it, since the recorder now
      // counts these spans as dropped.
      if (this.batch !== undefined) this.batch.length = 0;
      this.done({
        code: ExportResultCode.FAILED,
        error: new Error(`export timed out after ${timeoutMs} ms`),
      });
    }, timerDelay(timeoutMs));
    this._timer.unref();
  }

  /** The callback given to the exporter: the first call counts, later ones are ignored. */
  readonly done = (result: ExportResult): void => {
    const queue = this._queue;
    if (queue === undefined) return;
    this._queue = undefined;
    this.batch = undefined;
    clearTimeout(this._timer);
    this._timer = undefined;
    queue._settled(this, result, this._n);
  };

  start(exporter: SpanExporter): void {
    const batch = this.batch!;
    // As BatchSpanProcessor does: a resource still detecting attributes (such
    // as NodeSDK's host.id) is awaited, or the export would go without them.
    const pending = pendingResources(batch);
    if (pending === undefined) this._send(exporter);
    else
      Promise.all(pending).then(
        () => this._send(exporter),
        (error: Error) => this.done({ code: ExportResultCode.FAILED, error }),
      );
  }

  private _send(exporter: SpanExporter): void {
    const batch = this.batch;
    if (batch === undefined) return;
    try {
      context.with(suppressTracing(context.active()), () => exporter.export(batch, this.done));
    } catch (error) {
      this.done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }
}

/** The promises of the batch's resources whose async attributes are still pending. */
function pendingResources(batch: readonly ReadableSpan[]): Promise<void>[] | undefined {
  let pending: Promise<void>[] | undefined;
  let seen: ReadableSpan['resource'] | undefined;
  for (const span of batch) {
    const resource = span.resource;
    if (resource === seen || !resource.asyncAttributesPending) continue;
    seen = resource;
    if (resource.waitForAsyncAttributes) (pending ??= []).push(resource.waitForAsyncAttributes());
  }
  return pending;
}

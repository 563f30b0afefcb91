import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { encodeMarks, marksOf } from '../flush/request.js';
import { recordWireBytes, RequestSize } from '../flush/request-layout.js';
import type { FlushMark } from '../marks.js';
import {
  compactRun,
  type Dicts,
  LIVE,
  LONG_XLEN,
  type RecordRun,
  RunBuilder,
} from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import type { SpanRing } from '../record/span-ring.js';
import { timerDelay } from '../timer.js';
import { asResult } from './call-exporter.js';

/**
 * The synchronous work of one batch (assembling or decoding its records and
 * the exporter's own work) aims at this many milliseconds, so a flush of a
 * full window never blocks the event loop for long. Batches shrink below the
 * batch size when records are slow to export and grow back when they are not.
 */
const SLICE_BUDGET_MS = 5;
/**
 * Assumed cost of a record before one batch has been timed: the first batch
 * runs cold (not yet optimised by the JIT), so it starts small (about 128
 * records) and later ones grow as their cost is measured.
 */
const INITIAL_MS_PER_SPAN = 0.04;
/** A run keeping this much more than twice its records' bytes alive is worth compacting. */
const COMPACT_SLACK_BYTES = 64 * 1024;
/**
 * The most records one step of dropping removes: dropping stops soon after
 * the queue is under its bound, even when the records are spread over many
 * small runs, each of which counts {@link RUN_OVERHEAD_BYTES}.
 */
const DROP_STEP = 256;
/**
 * Memory a queued run keeps alive beside its records' bytes and index (the
 * run and its six typed arrays, each with its own buffer): about 1.4 KB,
 * measured. Counted against `maxBytes`, so many small runs cannot hold
 * more than their bytes say.
 */
const RUN_OVERHEAD_BYTES = 1536;
/**
 * The least the queue holds, whatever `maxBytes`: a trace flush and a late
 * batch of it each count {@link RUN_OVERHEAD_BYTES} and a late batch's room,
 * so a ring of a few KiB would otherwise drop a flush for its own late span.
 */
export const MIN_QUEUE_BYTES = 64 * 1024;

/** Entries `[from, to)` of `run` (tombstones skipped). */
export interface BatchPart {
  readonly run: RecordRun;
  readonly from: number;
  readonly to: number;
}

/** What one export call sends: records of one or more flushes, oldest first. */
export interface RecordBatch {
  readonly parts: readonly BatchPart[];
  /** Live records in the batch. */
  readonly count: number;
}

/**
 * Where batches go: the pass-through OTLP exporter, or any `SpanExporter`
 * through the decoder (see `sinks.ts`).
 */
export interface RecordSink {
  /**
   * Starts exporting `batch`; `done` is called once when it is over. Returns
   * a function that lets go of what the exporter was handed, called if the
   * export is abandoned (timed out), so an exporter that keeps it holds no
   * spans.
   */
  send(batch: RecordBatch, done: (result: ExportResult) => void): (() => void) | undefined;
  /** Promises of resources in the batch still detecting attributes, to await before sending. */
  pending(batch: RecordBatch): Promise<void>[] | undefined;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  /**
   * Called once `shutdown()` has settled or its deadline has passed: closes
   * the connections of a transport the recorder made.
   */
  release?(): void;
}

/** What {@link ExportQueue} needs. */
export interface ExportQueueOptions {
  readonly sink: RecordSink;
  /** Queued record bytes beyond this drop the oldest records (the newest flush is never cut). */
  readonly maxBytes: number;
  /** The most records per export call. */
  readonly batchSize: number;
  /**
   * The most bytes per export call, as the request goes on the wire (its
   * records expanded, with their marks and the resource and scope headers;
   * a record larger than this goes alone).
   */
  readonly batchBytes: number;
  /** The resources and scopes the records refer to, for the size of their headers. */
  readonly table: ResourceScopeTable;
  /** An export call that outlives this counts as failed and releases the loop, in ms. */
  readonly timeoutMs: number;
}

/** The queue's own counters. */
export interface ExportCounters {
  spansExported: number;
  spansDropped: number;
  exportFailures: number;
}

/** Late spans of one flush, copied out of the ring as they end. */
interface LateRecords {
  readonly builder: RunBuilder;
  readonly mark: FlushMark;
  readonly dicts: Dicts;
  /** The bytes of the flush's marks, after each record. */
  readonly marks: number;
}

/**
 * Encoded records waiting for export, and the one loop that exports them.
 *
 * The queue is a FIFO of runs, one per flush, so a window flush hands the
 * whole ring over in O(1) instead of moving it record by record while the
 * app waits.
 *
 * Invariants: at most one export call is outstanding at a time (one that
 * outlives `timeoutMs` counts as failed and releases the loop); queued bytes
 * exceed `maxBytes` only by the newest flush or span, which is never cut
 * (older records are dropped first); batches go out one per macrotask, so a
 * large flush never blocks the event loop for longer than one batch takes.
 */
export class ExportQueue {
  readonly counters: ExportCounters = { spansExported: 0, spansDropped: 0, exportFailures: 0 };
  private readonly _o: ExportQueueOptions;
  private readonly _runs: RecordRun[] = [];
  /**
   * Open batches of late spans, one per flushed trace whose children still
   * end, in the order they were opened: traces flushed together have their
   * late spans interleave, and one open batch would make a run per span.
   * Their number is bounded by what they hold, counted against `maxBytes`.
   */
  private readonly _late = new Map<FlushMark, LateRecords>();
  /**
   * What the open late batches keep alive beyond their records' bytes: the
   * spare room of their buffers and indexes, and {@link RUN_OVERHEAD_BYTES} each.
   */
  private _lateSlack = 0;
  /** A late batch this large is sealed, so the runs it becomes stay small to drop. */
  private readonly _lateChunk: number;
  private _length = 0;
  private _bytes = 0;
  /**
   * The queued records' bytes as they go on the wire, without the requests'
   * headers ({@link wireBytes} each): whether a batch is full by bytes.
   */
  private _wire = 0;
  /** Memory the queued runs keep alive (buffers and indexes), beside their live `_bytes`. */
  private _retained = 0;
  private _inFlight = false;
  private _scheduled: ReturnType<typeof setTimeout> | undefined;
  /** Sends full batches that are not due yet, soon after they fill. */
  private _sendFull: ReturnType<typeof setTimeout> | undefined;
  /** Records of full batches still to send before the timer's time (a time slice may send less than a batch). */
  private _fullOwed = 0;
  /** When `_scheduled` fires (performance.now() ms), to tell whether a shorter delay must re-arm it. */
  private _scheduledAt = Number.POSITIVE_INFINITY;
  /** Whether the queued records must go now: a delay ran out (or was 0), or a due batch left some. */
  private _due = false;
  private _current: ExportCall | undefined;
  private _idleWaiters: (() => void)[] = [];
  /** Records ever queued, and of them those that left (settled or dropped): the queue is FIFO. */
  private _queued = 0;
  private _gone = 0;
  /**
   * Where the batch in flight starts in that order (records before it have
   * all left), or +Infinity: records dropped behind it leave before it does.
   */
  private _inFlightFrom = Number.POSITIVE_INFINITY;
  /** Waiters for the first `upTo` records ever queued to leave, in order. */
  private _deliveryWaiters: { readonly upTo: number; readonly resolve: () => void }[] = [];
  private _failing = false;
  private _overflowing = false;
  private _msPerSpan = INITIAL_MS_PER_SPAN;

  constructor(options: ExportQueueOptions) {
    this._o = options;
    // 32 KiB for a 4 MiB queue, 128 KiB for 16 MiB.
    this._lateChunk = Math.min(Math.max(options.maxBytes / 128, 8 * 1024), 256 * 1024);
  }

  /** Records waiting for export. */
  get length(): number {
    return this._length;
  }

  /** Their encoded bytes. */
  get bytes(): number {
    return this._bytes;
  }

  /**
   * Takes over the runs of one flush (its window or trace, its triggering
   * span, its contributions), in order; drops older records to stay under
   * `maxBytes`. The flush is one unit: none of its runs is cut for another.
   */
  enqueue(...runs: (RecordRun | undefined)[]): void {
    let added = 0;
    for (const run of runs) {
      if (run === undefined || run.length === 0) continue;
      if (added === 0) this._sealLate();
      this._runs.push(run);
      this._length += run.length;
      this._bytes += run.bytes;
      this._wire += runWireBytes(run);
      this._retained += run.retainedBytes;
      added += run.length;
    }
    this._queued += added;
    if (added > 0) {
      this._bound(added);
      this._compact(added);
    }
  }

  /** Copies the ring's record `seq`, a late span of the flush `mark`, into the queue. */
  pushLate(ring: SpanRing, seq: number, mark: FlushMark): void {
    let late = this._late.get(mark);
    if (late !== undefined && late.dicts !== ring.dicts) {
      this._sealOne(late);
      late = undefined;
    }
    if (late === undefined) {
      late = {
        builder: new RunBuilder(256, 4),
        mark,
        dicts: ring.dicts,
        marks: encodeMarks(mark).length,
      };
      this._late.set(mark, late);
      this._lateSlack += lateSlack(late.builder);
    }
    const builder = late.builder;
    const before = builder.bytes;
    this._lateSlack -= lateSlack(builder);
    ring.copyInto(builder, seq);
    this._lateSlack += lateSlack(builder);
    this._length++;
    this._queued++;
    this._bytes += builder.bytes - before;
    this._wire += recordWireBytes(ring.xlenOf(seq) + late.marks);
    if (builder.bytes >= this._lateChunk) this._sealOne(late);
    this._bound(1);
  }

  /**
   * Exports what is queued within `delayMs`, or as soon as a full batch is
   * queued, so records flushed close together share export calls. A shorter
   * delay asked later wins. While a call is in flight, the next one goes
   * when it settles if the records are due by then; else the timer sends it.
   * Invariant: while records are queued and not due, a timer is armed.
   */
  schedule(delayMs = 0): void {
    const delay = timerDelay(delayMs);
    if (delay === 0) {
      this._due = true;
      if (this._inFlight) return;
    } else if (this._length >= this._o.batchSize || this._wire >= this._o.batchBytes) {
      // Full batches go now (even when a time slice sends one in parts); what
      // is left waits for the timer, as BatchSpanProcessor's remainder does.
      // (Full by bytes: batches go while a full one is queued, see _next.)
      const size = this._o.batchSize;
      this._fullOwed = Math.max(this._fullOwed, this._length - (this._length % size));
      if (!this._inFlight) {
        this._sendFull ??= setTimeout(() => {
          this._sendFull = undefined;
          this._next();
        }, 0);
        this._sendFull.unref();
      }
    }
    const at = performance.now() + delay;
    if (this._scheduled !== undefined && at >= this._scheduledAt) return;
    if (this._scheduled !== undefined) clearTimeout(this._scheduled);
    this._scheduledAt = at;
    this._scheduled = setTimeout(() => {
      this._scheduled = undefined;
      this._scheduledAt = Number.POSITIVE_INFINITY;
      this._due = true;
      this._next();
    }, delay);
    this._scheduled.unref();
  }

  private _unschedule(): void {
    if (this._sendFull !== undefined) clearTimeout(this._sendFull);
    this._sendFull = undefined;
    this._fullOwed = 0;
    if (this._scheduled !== undefined) clearTimeout(this._scheduled);
    this._scheduled = undefined;
    this._scheduledAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Resolves once every record queued so far has been exported or dropped,
   * however many are queued after it: a snapshot waits for its own flush,
   * not for a queue that steady traffic keeps from emptying.
   */
  whenDelivered(): Promise<void> {
    // Open late batches go behind what is queued, so the queue stays FIFO
    // for everything queued so far.
    this._sealLate();
    const upTo = this._queued;
    if (this._isGone(upTo)) return Promise.resolve();
    const delivered = new Promise<void>((resolve) => this._deliveryWaiters.push({ upTo, resolve }));
    if (!this._inFlight) {
      this._unschedule();
      this._next();
    }
    return delivered;
  }

  /** Whether someone waits for the queue: it then exports at once, not on its timers. */
  private _waitedFor(): boolean {
    return this._idleWaiters.length > 0 || this._deliveryWaiters.length > 0;
  }

  /** Counts `n` records as gone and resolves the waiters whose records all are. */
  private _left(n: number): void {
    this._gone += n;
    const waiters = this._deliveryWaiters;
    let k = 0;
    while (k < waiters.length && this._isGone(waiters[k]!.upTo)) waiters[k++]!.resolve();
    if (k > 0) waiters.splice(0, k);
  }

  /** Whether the first `upTo` records ever queued have all left (none still in flight). */
  private _isGone(upTo: number): boolean {
    return this._gone >= upTo && this._inFlightFrom >= upTo;
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this._inFlight && this._length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this._idleWaiters.push(resolve));
    // Someone is waiting: start now rather than on an unref'd timer that
    // would let the process exit first.
    if (!this._inFlight) {
      this._unschedule();
      this._next();
    }
    return idle;
  }

  /** Drops everything still queued, counting it. */
  discard(): void {
    this.counters.spansDropped += this._length;
    this._left(this._length);
    this._runs.length = 0;
    this._late.clear();
    this._lateSlack = 0;
    this._length = 0;
    this._bytes = 0;
    this._wire = 0;
    this._retained = 0;
    this._unschedule();
    this._due = false;
    if (!this._inFlight) this._settleIdle();
  }

  /**
   * Calls `fn` with every record not yet delivered, oldest first: the batch
   * in flight, then the queued records. For crash dumps.
   */
  forEachPending(fn: (run: RecordRun, slot: number) => void): void {
    const batch = this._current?.batch;
    if (batch !== undefined) for (const p of batch.parts) forEachLive(p.run, p.from, p.to, fn);
    this._sealLate();
    for (const run of this._runs) forEachLive(run, run.cursor, run.entries, fn);
  }

  /** Seals every open late batch, in the order they were opened. */
  private _sealLate(): void {
    for (const late of this._late.values()) this._sealOne(late);
  }

  private _sealOne(late: LateRecords): void {
    this._late.delete(late.mark);
    this._lateSlack -= lateSlack(late.builder);
    if (late.builder.count === 0) return;
    const run = late.builder.build(late.mark, late.dicts);
    this._runs.push(run);
    this._retained += run.retainedBytes;
  }

  /**
   * Keeps the memory the queue holds near its records' bytes: a window flush
   * hands over the whole ring (`maxBytes` of buffer and index) however few
   * records it holds, so many small windows queued behind a slow exporter
   * would each keep one. Past twice `maxBytes`, every run but the newest
   * flush's (`keep` records) that holds less than half of what it keeps
   * alive is copied into buffers of its own size.
   */
  private _compact(keep: number): void {
    if (this._retained <= 2 * this._o.maxBytes) return;
    let newest = 0;
    let first = this._runs.length;
    while (first > 0 && newest < keep) newest += this._runs[--first]!.length;
    for (let r = 0; r < first; r++) {
      const run = this._runs[r]!;
      if (run.retainedBytes <= 2 * run.bytes + COMPACT_SLACK_BYTES) continue;
      const compact = compactRun(run);
      this._retained += compact.retainedBytes - run.retainedBytes;
      this._runs[r] = compact;
    }
  }

  /**
   * Removes the oldest `n` live records at most, across flushes, that make a
   * request of at most `maxBytes` on the wire (at least one record, however
   * large); returns them as a batch.
   */
  private _take(n: number, maxBytes = Number.POSITIVE_INFINITY): RecordBatch | undefined {
    const parts: BatchPart[] = [];
    let count = 0;
    const size = maxBytes === Number.POSITIVE_INFINITY ? undefined : new RequestSize(this._o.table);
    let full = false;
    while (count < n && !full) {
      if (this._runs.length === 0) this._sealLate();
      const run = this._runs[0];
      if (run === undefined) break;
      const from = run.cursor;
      let k = from;
      let taken = 0;
      let bytes = 0;
      let wire = 0;
      // Each record goes with its flush's marks.
      const marks = marksOf(run).length;
      while (k < run.entries && count + taken < n) {
        const slot = run.slot(k);
        if ((run.state[slot]! & LIVE) === 0) {
          k++;
          continue;
        }
        const x = run.xlen[slot]! + marks + (run.extra?.get(slot)?.length ?? 0);
        if (size !== undefined) {
          const pair = run.pair[slot]!;
          const cost = size.cost(pair, x);
          if (size.bytes + cost > maxBytes && count + taken > 0) {
            full = true;
            break;
          }
          size.add(pair, cost);
        }
        wire += recordWireBytes(x);
        k++;
        taken++;
        bytes += run.len[slot]!;
      }
      this._wire = Math.max(0, this._wire - wire);
      // Skip trailing tombstones so an exhausted run leaves now.
      while (k < run.entries && (run.state[run.slot(k)]! & LIVE) === 0) k++;
      run.cursor = k;
      run.length -= taken;
      run.bytes -= bytes;
      if (run.length === 0) {
        this._runs.shift();
        this._retained -= run.retainedBytes;
      }
      this._length -= taken;
      this._bytes = this._length === 0 ? 0 : this._bytes - bytes;
      if (this._length === 0) this._wire = 0;
      count += taken;
      parts.push({ run, from, to: k });
    }
    return count === 0 ? undefined : { parts, count };
  }

  /**
   * What the queue holds against `maxBytes`: its records' bytes, and the
   * fixed memory of each run and open late batch.
   */
  private _held(): number {
    return this._bytes + this._lateSlack + this._runs.length * RUN_OVERHEAD_BYTES;
  }

  private _bound(keep: number): void {
    let dropped = 0;
    while (this._held() > this._o.maxBytes && this._length > keep) {
      const batch = this._take(Math.min(this._length - keep, DROP_STEP));
      if (batch === undefined) break;
      dropped += batch.count;
    }
    if (dropped === 0) return;
    this.counters.spansDropped += dropped;
    this._left(dropped);
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
      this._unschedule();
      this._due = false;
      this._overflowing = false;
      this._settleIdle();
      return;
    }
    const slice = Math.max(1, Math.floor(SLICE_BUDGET_MS / this._msPerSpan));
    const started = performance.now();
    let n = Math.min(this._o.batchSize, slice);
    // Not due: only what full batches hold goes now; the rest waits for its timer.
    if (!this._due && !this._waitedFor() && this._fullOwed > 0) {
      n = Math.min(n, this._fullOwed);
    }
    const batch = this._take(n, this._o.batchBytes);
    if (batch === undefined) return;
    // What a due batch left is due (a full batch's remainder waits for its
    // timer); what comes next asks for its own time.
    this._due = this._due && this._length > 0;
    this._fullOwed = Math.max(0, this._fullOwed - batch.count);
    if (this._length === 0) this._unschedule();
    this._inFlight = true;
    // Everything before this batch has left: records taken earlier are
    // counted in _gone, and no other call is in flight.
    this._inFlightFrom = this._gone;
    const call = new ExportCall(this, batch, this._o.timeoutMs);
    this._current = call;
    call.start(this._o.sink);
    this._msPerSpan = (this._msPerSpan + (performance.now() - started) / batch.count) / 2;
  }

  /** @internal Called once by the export call in flight when it settles. */
  _settled(call: ExportCall, result: ExportResult, n: number): void {
    if (this._current === call) this._current = undefined;
    this._inFlight = false;
    this._inFlightFrom = Number.POSITIVE_INFINITY;
    this._record(result, n);
    this._left(n);
    // The next batch waits for a macrotask so the app runs between batches.
    // Records not due (and not a full batch) keep gathering: a timer is armed.
    if (
      this._length === 0 ||
      this._due ||
      this._fullOwed > 0 ||
      this._length >= this._o.batchSize ||
      this._wire >= this._o.batchBytes ||
      this._waitedFor() ||
      this._scheduled === undefined
    ) {
      setImmediate(() => this._next());
    }
  }

  private _record(result: ExportResult, n: number): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.counters.spansExported += n;
      this._failing = false;
      return;
    }
    this.counters.spansDropped += n;
    this.counters.exportFailures++;
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

function forEachLive(
  run: RecordRun,
  from: number,
  to: number,
  fn: (run: RecordRun, slot: number) => void,
): void {
  for (let k = from; k < to; k++) {
    const slot = run.slot(k);
    if ((run.state[slot]! & LIVE) !== 0) fn(run, slot);
  }
}

/**
 * One export call and its timeout.
 *
 * Invariant: once the call settles (the exporter called back, threw, or the
 * timeout fired), nothing the exporter may still hold reaches the batch's
 * records or spans. The callback handed to the exporter holds only this
 * object, which lets go of the batch when it settles; on a timeout the sink
 * empties what it handed over (decoded spans), so an exporter that keeps it
 * for a long time, such as an OTLP exporter retrying against a collector that
 * never answers, keeps no spans alive. (A pre-encoded request body is a copy
 * of at most one batch, held by the SDK transport until its own timeout.)
 */
class ExportCall {
  batch: RecordBatch | undefined;
  private readonly _n: number;
  private _queue: ExportQueue | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _abandon: (() => void) | undefined;

  constructor(queue: ExportQueue, batch: RecordBatch, timeoutMs: number) {
    this._queue = queue;
    this.batch = batch;
    this._n = batch.count;
    this._timer = setTimeout(() => {
      this._abandon?.();
      this.done({
        code: ExportResultCode.FAILED,
        error: new Error(`export timed out after ${timeoutMs} ms`),
      });
    }, timerDelay(timeoutMs));
    this._timer.unref();
  }

  /**
   * The callback given to the exporter: the first call counts, later ones
   * are ignored; one without a result counts as a failure.
   */
  readonly done = (result: ExportResult | undefined): void => {
    const queue = this._queue;
    if (queue === undefined) return;
    this._queue = undefined;
    this.batch = undefined;
    this._abandon = undefined;
    clearTimeout(this._timer);
    this._timer = undefined;
    queue._settled(this, asResult(result), this._n);
  };

  start(sink: RecordSink): void {
    const batch = this.batch!;
    // As BatchSpanProcessor does: a resource still detecting attributes (such
    // as NodeSDK's host.id) is awaited, or the export would go without them.
    let pending: Promise<void>[] | undefined;
    try {
      pending = sink.pending(batch);
    } catch (error) {
      this.done({ code: ExportResultCode.FAILED, error: error as Error });
      return;
    }
    if (pending === undefined) this._send(sink);
    else
      Promise.all(pending).then(
        () => this._send(sink),
        (error: Error) => this.done({ code: ExportResultCode.FAILED, error }),
      );
  }

  private _send(sink: RecordSink): void {
    const batch = this.batch;
    if (batch === undefined) return;
    try {
      const abandon = sink.send(batch, this.done);
      if (this._queue !== undefined) this._abandon = abandon;
    } catch (error) {
      this.done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }
}

/** What an open late batch keeps alive beyond its records' bytes. */
function lateSlack(builder: RunBuilder): number {
  return builder.retainedBytes - builder.bytes + RUN_OVERHEAD_BYTES;
}

/** Marks longer than this leave the sums (an xlen below LONG_XLEN stays below 2^14 with them). */
const MAX_SUMMED_MARKS = 16_384 - LONG_XLEN;

/**
 * The wire bytes of a run's live records, marks and extra fields included
 * (see {@link wireBytes}). A window flush counts its whole window here, in
 * its one synchronous step, where reading each of 90,000 records took 2.5-4
 * ms (the loop runs cold, once a flush): a detached ring's run carries the
 * sums of its records' lengths instead, and each record's length varint
 * follows from them. The loop is for the rest.
 */
export function runWireBytes(run: RecordRun): number {
  const marks = marksOf(run).length;
  const { state, xlen, extra, capacity } = run;
  const sums = run.xlenSums;
  if (
    sums !== undefined &&
    run.cursor === 0 &&
    run.length === sums.length &&
    sums.longX === 0 &&
    marks <= MAX_SUMMED_MARKS
  ) {
    // Each record is a tag, a length varint and its bytes; with the marks,
    // every length is in [2^7, 2^14), but a short record's that stays below 2^7.
    let ones = 0;
    for (let v = 0; v + marks < 0x80; v++) ones += sums.shortX[v]!;
    let total = sums.xbytes + sums.length * (1 + marks + 2) - ones;
    if (extra !== undefined) {
      for (const [slot, fields] of extra) {
        if ((state[slot]! & LIVE) === 0) continue;
        const x = xlen[slot]! + marks;
        total += recordWireBytes(x + fields.length) - recordWireBytes(x);
      }
    }
    return total;
  }
  let total = 0;
  let slot = run.slot(run.cursor);
  for (let k = run.cursor; k < run.entries; k++) {
    if ((state[slot]! & LIVE) !== 0) {
      total += recordWireBytes(xlen[slot]! + marks + (extra?.get(slot)?.length ?? 0));
    }
    if (++slot === capacity) slot = 0;
  }
  return total;
}

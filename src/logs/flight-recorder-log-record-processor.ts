import { type Context, context as api, diag, trace } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import { decodeEvents } from '../export/span-decoder.js';
import type { RecordRun } from '../record/record-run.js';
import { WantedSpans } from '../record/trace-records.js';
import type { ContributorFlush, FlushContributor } from '../flush/contributors.js';
import type { FlightRecorderSpanProcessor } from '../flight-recorder-span-processor.js';
import type { FlushMark } from '../marks.js';
import type { LogStats } from '../options.js';
import { ProtobufWriter, WriterFull } from '../record/protobuf-writer.js';
import { RecorderClock } from '../record/recorder-clock.js';
import { ResourceScopeTable } from '../record/resource-scope-table.js';
import { boundedWait } from '../timer.js';
import { LogEncoder, parseHex } from './log-encoder.js';
import {
  type LogExportCounters,
  LogExportQueue,
  type LogRequestExporter,
  OtlpProtoLogsExporter,
} from './log-export.js';
import type { RecordedLogRecord } from './log-record.js';
import { SEVERITY } from './log-record.js';
import { encodeLogMarks, LogBatchBuilder } from './log-request.js';
import { LOG_SHIPPED, LogRing, logRingLayout } from './log-ring.js';
import { hexOf, logsAsEvents } from './log-span-events.js';

/** How many flushed traces' marks are remembered, so their later log records follow them. */
/** A record past the per-record cap is encoded again in a buffer of up to this size to pass through. */
const MAX_PASS_THROUGH_BYTES = 4 * 1024 * 1024;
/** How far ahead of the wall clock a record's observed time may move the recorder's clock. */
const CLOCK_SKEW_MS = 1_000;
/** Records passed through (and late ones) are gathered this long before they go out together. */
const PASS_THROUGH_DELAY_MS = 0;

/** What the log processor needs of the span recorder's resolved options. */
export interface LogOptions {
  readonly disabled: boolean;
  readonly logMaxBytes: number;
  readonly logMinAgeMs: number;
  readonly logMaxRecordBytes: number;
  readonly logPassThroughSeverity: number;
  readonly flushOnErrorLog: boolean;
  readonly logsAsSpanEvents: boolean;
  /** False: records go nowhere over OTLP, only into span events and snapshots. */
  readonly exportLogs: boolean;
  readonly maxExportBatchSize: number;
  readonly maxExportBatchBytes: number;
  readonly exportTimeoutMs: number;
}

/**
 * A `LogRecordProcessor` (`@opentelemetry/sdk-logs`) tied to a
 * {@link FlightRecorderSpanProcessor}: get it with
 * `recorder.logRecordProcessor()`. It records every log record it sees, of
 * every severity, encoded at `onEmit` as the OTLP protobuf `LogRecord` the
 * SDK's serializer would write (original timestamps, severity, body,
 * attributes, event name, trace and span ids), into its own byte ring
 * bounded by `logMaxBytes` and `logMinAgeMs`. When the span recorder flushes
 * a trace, that trace's log records go out with it to OTLP `/v1/logs`,
 * carrying the same `flight_recorder.snapshot.id` and
 * `flight_recorder.trigger`; a window flush also takes the window's other
 * log records. Records at or above `logPassThroughSeverity` also go out at
 * once, and an ERROR record inside a trace triggers `error-log`.
 *
 * @example
 * ```ts
 * const recorder = new FlightRecorderSpanProcessor();
 * const sdk = new NodeSDK({
 *   spanProcessors: [recorder],
 *   logRecordProcessors: [recorder.logRecordProcessor()],
 * });
 * ```
 */
export class FlightRecorderLogRecordProcessor {
  private readonly _o: LogOptions;
  private readonly _table = new ResourceScopeTable();
  private readonly _ring: LogRing;
  private readonly _encoder = new LogEncoder();
  private readonly _writer: ProtobufWriter;
  /** The most bytes one record may take in the ring. */
  private readonly _cap: number;
  private readonly _exports: LogExportQueue | undefined;
  private readonly _exporter: LogRequestExporter | undefined;
  private readonly _counters = {
    logsRecorded: 0,
    logsEvictedByAge: 0,
    logsEvictedByBytes: 0,
    logsOversize: 0,
    logsAsSpanEvents: 0,
  };
  private readonly _exportCounters: LogExportCounters = {
    logsExported: 0,
    logsDropped: 0,
    logExportFailures: 0,
  };
  /** Records going out at once (pass-through, oversize, late), gathered for one request. */
  private _now: LogBatchBuilder | undefined;
  /** Late records of flushed traces, per flush, gathered like `_now`. */
  private readonly _late = new Map<Uint8Array, LogBatchBuilder>();
  private _nowTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes gathered in `_now` and `_late`: past `logMaxBytes` they go to the export queue at once. */
  private _goingBytes = 0;
  /** The span recorder's flush marks, encoded for log records (held weakly, as the recorder holds the marks). */
  private readonly _markBytes = new WeakMap<FlushMark, Uint8Array>();
  private readonly _traceId = new Uint8Array(16);
  /** What records are stamped with, and what their age is measured by. */
  private readonly _clock = new RecorderClock(CLOCK_SKEW_MS);
  private _off: boolean;
  private _warned = false;
  private _shutdown: Promise<void> | undefined;
  private readonly _contributor: FlushContributor;
  /** What the last flush took, for its FlushInfo. */
  private _lastTaken = { snapshotId: '', count: 0 };

  /** @internal Use {@link FlightRecorderSpanProcessor.logRecordProcessor}. */
  constructor(
    private readonly _recorder: FlightRecorderSpanProcessor,
    options: LogOptions,
    exporter?: LogRequestExporter,
  ) {
    this._o = options;
    this._off = options.disabled;
    const { ringBytes, capacity } = logRingLayout(options.disabled ? 1 : options.logMaxBytes);
    this._ring = new LogRing(ringBytes, capacity, this._counters);
    // A record may take at most a quarter of the ring, so one cannot wipe it.
    const cap = Math.min(
      ringBytes,
      Math.max(64, Math.min(options.logMaxRecordBytes, Math.floor(ringBytes / 4))),
    );
    this._cap = cap;
    this._writer = new ProtobufWriter(this._ring.buf);
    if (!options.disabled && options.exportLogs) {
      this._exporter = exporter ?? new OtlpProtoLogsExporter();
      this._exports = new LogExportQueue(
        this._exporter,
        this._table,
        {
          maxBytes: options.logMaxBytes,
          batchSize: options.maxExportBatchSize,
          batchBytes: options.maxExportBatchBytes,
          timeoutMs: options.exportTimeoutMs,
        },
        this._exportCounters,
      );
    }
    this._contributor = { contribute: (flush) => this._onFlush(flush) };
    if (!options.disabled) _recorder._contributors.push(this._contributor);
  }

  onEmit(logRecord: RecordedLogRecord, context?: Context): void {
    if (this._off) return;
    try {
      const now = this._stamp(logRecord.hrTimeObserved);
      const ring = this._ring;
      const cutoff = now - this._o.logMinAgeMs;
      if (ring.ageTime() < cutoff) ring.evictOlderThan(cutoff);
      let pair = this._table.idOf(logRecord.resource, logRecord.instrumentationScope);
      if (pair < 0 && this._renewPairs())
        pair = this._table.idOf(logRecord.resource, logRecord.instrumentationScope);
      if (pair < 0) {
        this._exportCounters.logsDropped++;
        return;
      }
      // Encoded in place, into room for the largest record the ring keeps.
      const cap = this._cap;
      const at = ring.reserve(cap);
      if (at < 0) {
        // A ring smaller than one record's room keeps nothing.
        this._oversize(logRecord, pair, context);
        return;
      }
      const w = this._writer;
      const encoder = this._encoder;
      w.reset(ring.buf, at, at + cap);
      try {
        encoder.encode(w, logRecord);
      } catch (error) {
        if (error !== WriterFull) {
          this._unreadable(error);
          return;
        }
        this._oversize(logRecord, pair, context);
        return;
      }
      const n = w.pos - at;
      const severity = logRecord.severityNumber ?? 0;
      const passThrough = severity >= this._o.logPassThroughSeverity;
      const tidAt = encoder.traceIdAt;
      this._counters.logsRecorded++;
      if (tidAt >= 0) {
        // A late record of a trace already flushed goes straight out with
        // its marks: the flush its late spans follow.
        const marks = this._lateMarks(logRecord.spanContext!.traceId, logRecord.severityNumber);
        if (marks !== undefined) {
          this._goNow(ring.buf, at, n, pair, marks);
          return;
        }
      }
      ring.commit(
        at,
        n,
        now,
        tidAt,
        encoder.spanIdAt,
        pair,
        severity,
        passThrough ? LOG_SHIPPED : 0,
      );
      if (passThrough) this._goNow(ring.buf, at, n, pair, undefined);
      if (tidAt >= 0) this._errorLog(logRecord.spanContext!.traceId, severity, context);
    } catch (error) {
      this._warnOnce(error);
    }
  }

  /**
   * The time a record observed at `observed` is stamped with, in ms: its own
   * observed time (no clock read per record), on the recorder's clock (see
   * {@link RecorderClock}).
   */
  private _stamp(observed?: readonly [number, number]): number {
    return this._clock.stamp(
      observed === undefined ? Number.NaN : observed[0] * 1e3 + observed[1] / 1e6,
    );
  }

  /** Frees the resource and scope pairs no log record holds (the table is full); whether it freed any. */
  private _renewPairs(): boolean {
    return this._table.renewFull((use) => {
      const ring = this._ring;
      ring.forEachLive((slot) => use(ring.pair[slot]!));
      this._exports?.forEachPendingPair(use);
    });
  }

  /**
   * A record past the per-record cap: counted, and sent at once instead of
   * being buffered; with its trace's marks when that trace was flushed
   * already. An ERROR one triggers `error-log` as a buffered one does. One
   * whose encoding is larger than `logMaxBytes` (or 4 MiB) is dropped,
   * counted: what waits for export stays bounded; so is one whose encoding
   * throws.
   */
  private _oversize(logRecord: RecordedLogRecord, pair: number, context?: Context): void {
    this._counters.logsOversize++;
    // At least 256 bytes: with a tiny logMaxBytes the ring, and so the cap, can be 0.
    const limit = Math.min(MAX_PASS_THROUGH_BYTES, Math.max(this._o.logMaxBytes, 256));
    let size = Math.min(limit, Math.max(64, this._cap) * 4);
    for (;;) {
      const buf = new Uint8Array(size);
      const w = new ProtobufWriter(buf);
      try {
        this._encoder.encode(w, logRecord);
      } catch (error) {
        if (error !== WriterFull) {
          this._unreadable(error);
          return;
        }
        if (size >= limit) break;
        size = Math.min(limit, size * 4);
        continue;
      }
      const traceId = this._encoder.traceIdAt >= 0 ? logRecord.spanContext!.traceId : undefined;
      const marks =
        traceId === undefined ? undefined : this._lateMarks(traceId, logRecord.severityNumber);
      this._goNow(buf, 0, w.pos, pair, marks);
      if (marks === undefined && traceId !== undefined) {
        this._errorLog(traceId, logRecord.severityNumber ?? 0, context);
      }
      return;
    }
    this._exportCounters.logsDropped++;
  }

  /** Sends `src[from, from + n)` on the next turn, with `marks` (late records) or none (pass-through). */
  private _goNow(
    src: Uint8Array,
    from: number,
    n: number,
    pair: number,
    marks: Uint8Array | undefined,
  ): void {
    if (this._exports === undefined) return;
    let builder: LogBatchBuilder | undefined;
    if (marks === undefined) {
      builder = this._now ??= new LogBatchBuilder(1024, 8);
    } else {
      builder = this._late.get(marks);
      if (builder === undefined) {
        builder = new LogBatchBuilder(1024, 8);
        this._late.set(marks, builder);
      }
    }
    builder.add(src, from, from + n, pair);
    this._goingBytes += n;
    // A burst (every WARN of a loop, say) goes to the export queue as it
    // fills logMaxBytes, where the oldest batches are dropped past it.
    if (this._goingBytes >= this._o.logMaxBytes) {
      if (this._nowTimer !== undefined) clearTimeout(this._nowTimer);
      this._sendNow();
      return;
    }
    if (this._nowTimer === undefined) {
      this._nowTimer = setTimeout(() => this._sendNow(), PASS_THROUGH_DELAY_MS);
      this._nowTimer.unref();
    }
  }

  private _sendNow(): void {
    this._nowTimer = undefined;
    this._goingBytes = 0;
    const exports = this._exports;
    if (exports === undefined) return;
    if (this._now !== undefined) exports.enqueue(this._now.build(undefined));
    this._now = undefined;
    for (const [marks, builder] of this._late) exports.enqueue(builder.build(marks));
    this._late.clear();
  }

  /**
   * A record of `severity` inside trace `traceId`, at ERROR or above (with
   * `flushOnErrorLog`), triggers `error-log`: when the
   * trace's local root is open here, it triggers when that root ends (so
   * the whole trace, its root and its records go in one flush); otherwise
   * now. Either way through the span recorder's trigger policy.
   */
  private _errorLog(traceId: string, severity: number, context: Context | undefined): void {
    if (severity < SEVERITY.ERROR || !this._o.flushOnErrorLog) return;
    const recorder = this._recorder;
    if (recorder._triggerAtRootEnd(traceId, 'error-log')) return;
    const span = trace.getSpan(context ?? api.active()) as unknown as ReadableSpan | undefined;
    if (span === undefined || span.spanContext().traceId !== traceId) return;
    recorder._triggerTrace(traceId, 'error-log', span);
  }

  /** Told of every flush of the span recorder: takes that trace's records (or the window's) out, marked. */
  private _onFlush(flush: ContributorFlush): undefined {
    if (this._off) return undefined;
    const ring = this._ring;
    ring.evictOlderThan(this._clock.now() - this._o.logMinAgeMs);
    const marks = encodeLogMarks({
      snapshotId: flush.snapshotId,
      trigger: flush.trigger,
      ...(flush.remote === true ? { remote: true } : {}),
    });
    const exports = this._exports;
    const builder = new LogBatchBuilder(4096, 16);
    // Span events: the records emitted in each span, by trace and span id.
    const asEvents = this._o.logsAsSpanEvents;
    const events = new Map<string, [number, number][]>();
    const take = (slot: number): void => {
      const o = ring.off[slot]!;
      const end = o + ring.len[slot]!;
      if ((ring.state[slot]! & LOG_SHIPPED) === 0 && exports !== undefined) {
        builder.add(ring.buf, o, end, ring.pair[slot]!);
      }
      const sid = ring.sid[slot]!;
      const tid = ring.tid[slot]!;
      if (asEvents && sid >= 0 && tid >= 0) {
        const key = hexOf(ring.buf, tid, 16) + hexOf(ring.buf, sid, 8);
        const list = events.get(key);
        if (list === undefined) events.set(key, [[o, end]]);
        else list.push([o, end]);
      }
    };
    const taken: number[] = [];
    const collect = (slot: number): void => {
      take(slot);
      taken.push(slot);
    };
    if (flush.scope === 'window') {
      ring.forEachLive(collect);
    } else {
      const traces = new Set<string>();
      if (flush.traceId !== undefined) traces.add(flush.traceId);
      for (const span of flush.spans) traces.add(span.traceId);
      for (const traceId of traces) {
        if (!parseHex(traceId, this._traceId)) continue;
        const id = this._traceId;
        ring.forEachLive((slot) => {
          if (ring.hasTrace(slot, id)) collect(slot);
        });
      }
    }
    // Events are made from the ring's bytes before the records leave it,
    // and go on the spans leaving, found by their ids (not decoded).
    if (events.size > 0) {
      const fields = new Map<string, Uint8Array>();
      for (const [key, records] of events) fields.set(key, logsAsEvents(ring.buf, records));
      for (const key of flush.appendToSpans(fields)) {
        this._counters.logsAsSpanEvents += events.get(key)!.length;
      }
    }
    for (const slot of taken) ring.remove(slot);
    this._lastTaken = { snapshotId: flush.snapshotId, count: taken.length };
    exports?.enqueue(builder.build(marks));
    return undefined;
  }

  /**
   * The marks a record of `traceId` emitted now goes out with: those of the
   * flush the trace's late spans follow (a trace flush, or a window flush
   * that took it), as the span recorder remembers it; undefined when none.
   * A record that triggers `error-log` follows a trace flush only: a window
   * flush is not the trace's own, and the trace may still flush for it, as
   * for a span that triggers.
   */
  private _lateMarks(traceId: string, severity: number | undefined): Uint8Array | undefined {
    const triggers = this._o.flushOnErrorLog && (severity ?? 0) >= SEVERITY.ERROR;
    const mark = this._recorder._lateMarkOf(traceId, triggers);
    if (mark === undefined) return undefined;
    let bytes = this._markBytes.get(mark);
    if (bytes === undefined) {
      bytes = encodeLogMarks({
        snapshotId: mark.snapshotId,
        trigger: mark.trigger,
        ...(mark.remote === true ? { remote: true } : {}),
      });
      this._markBytes.set(mark, bytes);
    }
    return bytes;
  }

  /**
   * Writes the buffered records as events on the records of `run` (a copy
   * of the span window) whose span they were emitted in, without taking them
   * out of the ring: what snapshots show.
   * @internal For the span recorder's window view.
   */
  _addEventsTo(run: RecordRun): void {
    if (this._off || !this._o.logsAsSpanEvents || this._ring.length === 0) return;
    const bySpan = this._recordsBySpan();
    if (bySpan.size === 0) return;
    new WantedSpans(bySpan).forEachIn(run, (slot, records) => {
      (run.extra ??= new Map()).set(slot, logsAsEvents(this._ring.buf, records));
    });
  }

  /**
   * The buffered records as span events, by trace id and span id.
   * @internal For crash dumps: the log lines of the open spans.
   */
  _eventsBySpan(): Map<string, TimedEvent[]> {
    const out = new Map<string, TimedEvent[]>();
    if (this._off || !this._o.logsAsSpanEvents) return out;
    for (const [key, records] of this._recordsBySpan()) {
      out.set(key, decodeEvents(logsAsEvents(this._ring.buf, records)));
    }
    return out;
  }

  /** The live records' byte ranges, oldest first, by trace id and span id (hex, concatenated). */
  private _recordsBySpan(): Map<string, [number, number][]> {
    const ring = this._ring;
    ring.evictOlderThan(this._clock.now() - this._o.logMinAgeMs);
    const bySpan = new Map<string, [number, number][]>();
    ring.forEachLive((slot) => {
      const tid = ring.tid[slot]!;
      const sid = ring.sid[slot]!;
      if (tid < 0 || sid < 0) return;
      const key = hexOf(ring.buf, tid, 16) + hexOf(ring.buf, sid, 8);
      const o = ring.off[slot]!;
      const range: [number, number] = [o, o + ring.len[slot]!];
      const list = bySpan.get(key);
      if (list === undefined) bySpan.set(key, [range]);
      else list.push(range);
    });
    return bySpan;
  }

  /**
   * How many records the flush `snapshotId` took, if it was the last one.
   * @internal For the span recorder's FlushInfo.
   */
  _takenBy(snapshotId: string): number {
    return this._lastTaken.snapshotId === snapshotId ? this._lastTaken.count : 0;
  }

  /** The log counters and current sizes. */
  stats(): LogStats {
    if (!this._off) this._ring.evictOlderThan(this._clock.now() - this._o.logMinAgeMs);
    const c = this._counters;
    const e = this._exportCounters;
    return {
      bufferedLogs: this._ring.length,
      bufferedLogBytes: this._ring.bytes,
      logsRecorded: c.logsRecorded,
      logsEvictedByAge: c.logsEvictedByAge,
      logsEvictedByBytes: c.logsEvictedByBytes,
      logsOversize: c.logsOversize,
      logsAsSpanEvents: c.logsAsSpanEvents,
      logsExported: e.logsExported,
      logsDropped: e.logsDropped,
    };
  }

  /** Sends what waits to go out at once, then waits for pending exports (bounded by `exportTimeoutMs`). It does not flush the buffer. */
  async forceFlush(): Promise<void> {
    if (this._nowTimer !== undefined) {
      clearTimeout(this._nowTimer);
      this._sendNow();
    }
    const exports = this._exports;
    if (exports === undefined) return;
    await boundedWait(exports.whenIdle(), this._o.exportTimeoutMs);
  }

  /**
   * Stops recording, sends what waits within `exportTimeoutMs`, then shuts
   * the exporter down. Calling it again returns the same promise.
   */
  shutdown(): Promise<void> {
    this._shutdown ??= this._doShutdown();
    return this._shutdown;
  }

  private async _doShutdown(): Promise<void> {
    const deadline = performance.now() + this._o.exportTimeoutMs;
    await this.forceFlush().catch(() => {});
    this._off = true;
    const contributors = this._recorder._contributors;
    const at = contributors.indexOf(this._contributor);
    if (at >= 0) contributors.splice(at, 1);
    this._ring.clear();
    this._exports?.close();
    const exporter = this._exporter;
    if (exporter !== undefined) {
      await boundedWait(
        exporter.shutdown().catch((error: unknown) => {
          diag.error(`otel-flight-recorder: log exporter shutdown failed: ${String(error)}`);
        }),
        deadline - performance.now(),
      );
      exporter.release?.();
    }
  }

  /**
   * A record whose encoding threw (a getter in its body or attributes):
   * nothing of it is kept or sent. Counted in `logsDropped`, reported once.
   */
  private _unreadable(error: unknown): void {
    this._exportCounters.logsDropped++;
    this._warnOnce(error);
  }

  private _warnOnce(error: unknown): void {
    if (this._warned) return;
    this._warned = true;
    diag.error(
      `otel-flight-recorder: failed to record a log record (further failures are silent): ${error}`,
    );
  }
}

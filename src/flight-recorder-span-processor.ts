import { randomBytes } from 'node:crypto';
import { type Context, diag, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { resolveOptions } from './config.js';
import { warnAboutEnv } from './env-warnings.js';
import { installCrashDump } from './crash-dump.js';
import { ExportQueue } from './export-queue.js';
import type { FlushMark } from './marks.js';
import type {
  FlightRecorderOptions,
  FlightRecorderStats,
  FlushInfo,
  FlushScope,
  ResolvedOptions,
  SnapshotResult,
} from './options.js';
import { repair, wellFormed } from './sanitize.js';
import { estimateSpanBytes } from './size-estimate.js';
import { installSnapshotSignal } from './snapshot-signal.js';
import {
  type SnapshotWriteResult,
  type WriteSnapshotOptions,
  writeWindowSnapshot,
} from './snapshot-writer.js';
import { SpanDeque } from './span-deque.js';
import { boundedWait } from './timer.js';

/** How many traces with open local roots are tracked for pinning; the oldest goes first. */
const MAX_OPEN_TRACES = 65_536;
/** How many open spans a crash dump tracks; the oldest started goes first. */
const MAX_OPEN_SPANS = 65_536;
/** How many flushed trace ids are remembered so their late spans follow them. */
const MAX_FLUSHED_TRACES = 16_384;
/** How far ahead of the wall clock a span's end time may move the recorder's clock. */
const CLOCK_SKEW_MS = 1_000;
/** Late spans are gathered this long before they are exported together. */
const LATE_EXPORT_DELAY_MS = 100;

interface OpenTrace {
  /** Local roots of the trace that have started and not ended. */
  roots: number;
  /** Spans of the trace held in the pinned deque. */
  pinned: number;
}

function hrTimeToMs(t: readonly [number, number]): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

function isLocalRoot(span: ReadableSpan): boolean {
  const parent = span.parentSpanContext;
  return parent === undefined || parent.isRemote === true;
}

/**
 * A span processor that records every ended span in memory, in a buffer
 * bounded by age (`minAgeMs`) and estimated heap bytes (`maxBytes`), and
 * exports only when something worth seeing happens: a local root span that
 * is slow or fails, a custom trigger, or a manual {@link snapshot}. A flush
 * exports the triggering trace and, at most once per `minFlushIntervalMs`,
 * the whole preceding window. No span is exported twice.
 *
 * @example
 * ```ts
 * const sdk = new NodeSDK({ spanProcessors: [new FlightRecorderSpanProcessor()] });
 * ```
 */
export class FlightRecorderSpanProcessor implements SpanProcessor {
  private readonly _options: ResolvedOptions;
  private readonly _exporter: SpanExporter | undefined;
  private readonly _exports: ExportQueue | undefined;
  /** Spans in end order that are younger than `minAgeMs`. */
  private _ring = new SpanDeque<string>();
  /** Spans older than `minAgeMs` kept because their trace's local root is open; all older than the ring's. */
  private _pinned = new SpanDeque<string>();
  private readonly _open = new Map<string, OpenTrace>();
  private readonly _flushed = new Map<string, FlushMark>();
  private readonly _latency: boolean;
  private readonly _error: boolean;
  private readonly _sweep: ReturnType<typeof setInterval> | undefined;
  private readonly _counters = {
    spansRecorded: 0,
    spansEvictedByAge: 0,
    spansEvictedByBytes: 0,
    flushes: 0,
    spansLate: 0,
    spansExported: 0,
    spansDropped: 0,
    exportFailures: 0,
  };
  private readonly _triggers: Record<string, number> = {};
  private _off: boolean;
  private _lastTime = Number.NEGATIVE_INFINITY;
  /** The wall clock when last read by {@link _clock}. */
  private _wall = Number.NEGATIVE_INFINITY;
  private _lastWindowFlush = Number.NEGATIVE_INFINITY;
  private _pinnedDirty = false;
  private _warnedOnEnd = false;
  private _warnedShouldTrigger = false;
  private _warnedOnFlush = false;
  private _shutdown: Promise<void> | undefined;
  /** Spans started and not yet ended; tracked only when a crash dump needs them. */
  private _openSpans: Set<Span> | undefined;
  /** Removes the process listeners of the snapshot signal and the crash dump. */
  private readonly _detach: (() => void)[] = [];

  /**
   * @throws TypeError when an option is invalid, naming the option and value.
   */
  constructor(options?: FlightRecorderOptions) {
    const o = resolveOptions(options, process.env, warnAboutEnv);
    this._options = o;
    this._latency = o.triggers.includes('latency');
    this._error = o.triggers.includes('error');
    this._off = o.disabled;
    this._exporter = o.exporter ?? (o.disabled ? undefined : new OTLPTraceExporter());
    if (this._exporter !== undefined) {
      this._exports = new ExportQueue(
        this._exporter,
        o.maxBytes,
        o.maxExportBatchSize,
        o.exportTimeoutMs,
        this._counters,
      );
    }
    if (!o.disabled) {
      // Ages spans out while no span ends, so an idle process lets go of them.
      const every = Math.min(Math.max(o.minAgeMs / 2, 1_000), 60_000);
      this._sweep = setInterval(() => this._evict(this._now()), every);
      this._sweep.unref();
      const dir = { directory: o.snapshotDir };
      if (o.snapshotSignal !== undefined) {
        this._detach.push(installSnapshotSignal(this, o.snapshotSignal, dir));
      }
      if (o.crashDump) this._detach.push(installCrashDump(this, dir));
    }
  }

  /** The flush scope in force, after options and environment. */
  get flushScope(): FlushScope {
    return this._options.flushScope;
  }

  onStart(span: Span, _parentContext: Context): void {
    if (this._off) return;
    try {
      const openSpans = this._openSpans;
      if (openSpans !== undefined) {
        openSpans.add(span);
        // Spans that never end must not hold memory forever: forget the oldest.
        if (openSpans.size > MAX_OPEN_SPANS) openSpans.delete(openSpans.values().next().value!);
      }
      if (!isLocalRoot(span)) return;
      const traceId = span.spanContext().traceId;
      const open = this._open.get(traceId);
      if (open !== undefined) {
        open.roots++;
        return;
      }
      this._open.set(traceId, { roots: 1, pinned: 0 });
      if (this._open.size > MAX_OPEN_TRACES) {
        // Roots that never end must not pin memory forever: forget the oldest.
        const [oldest, state] = this._open.entries().next().value as [string, OpenTrace];
        this._open.delete(oldest);
        if (state.pinned > 0) this._pinnedDirty = true;
      }
    } catch (error) {
      this._warnOnce(error);
    }
  }

  onEnd(ended: ReadableSpan): void {
    if (this._off) return;
    try {
      this._openSpans?.delete(ended as Span);
      // Bookkeeping (open roots, flushed traces, buffer tags) uses the span's
      // own trace id, as onStart saw it, even when the recorded copy is repaired.
      const spanContext = ended.spanContext();
      const traceId = spanContext.traceId;
      const root = isLocalRoot(ended);
      let reason = root ? this._rootTrigger(ended) : undefined;
      if (reason === undefined && this._options.shouldTrigger !== undefined) {
        reason = this._customTrigger(ended);
      }
      const time = this._clock(hrTimeToMs(ended.endTime));
      if (this._options.skipSampled && (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0) {
        // Another processor exports sampled spans; this one still triggers.
        if (reason !== undefined) this._flush(reason, time, traceId);
        if (root) this._closeRoot(traceId);
        return;
      }
      // Invariant (carry it over to any new recording path): what is
      // recorded is safe to export, write and dump whatever the app put in
      // the span (NaN, infinite or negative times, bad ids, values nested
      // too deep); a hostile span is repaired, never its batch lost.
      let span = ended;
      let size = estimateSpanBytes(span);
      if (!(size >= 0) || !wellFormed(span)) {
        span = repair(ended, Date.now());
        size = estimateSpanBytes(span);
      }
      this._counters.spansRecorded++;
      if (size > this._options.maxBytes) {
        // Invariant: a span larger than the whole buffer is not kept, so it
        // cannot evict every other span (from the buffer or the export queue).
        this._counters.spansEvictedByBytes++;
        if (reason !== undefined) this._flush(reason, time, traceId);
        if (root) this._closeRoot(traceId);
        return;
      }
      if (reason === undefined && this._flushed.size !== 0) {
        const mark = this._flushed.get(traceId);
        if (mark !== undefined && this._exports !== undefined) {
          // A late span of a trace already flushed goes straight out with its marks.
          this._counters.spansLate++;
          this._exports.push(span, traceId, mark, size, time);
          this._exports.schedule(LATE_EXPORT_DELAY_MS);
          if (root) this._closeRoot(traceId);
          return;
        }
      }
      this._evictByAge(time);
      this._ring.push(span, traceId, size, time);
      // A flush first, so the triggering trace leaves whole before bytes evict anything.
      if (reason !== undefined) this._flush(reason, time, traceId);
      // The root closes last: until then its trace's pinned spans must stay.
      if (root) this._closeRoot(traceId);
      this._evictByBytes();
    } catch (error) {
      this._warnOnce(error);
    }
  }

  /**
   * Exports the whole buffered window now, marked with `reason` as its
   * trigger (`manual` by default), and resolves once it has been exported.
   * Flushed spans leave the buffer. This ignores `flushScope` and
   * `minFlushIntervalMs`, and restarts the interval.
   */
  async snapshot(reason = 'manual'): Promise<SnapshotResult> {
    if (this._off || this._exports === undefined) {
      return { snapshotId: newSnapshotId(), trigger: reason, spans: 0, traces: 0 };
    }
    this._evictByAge(this._now());
    const result = this._flush(reason, this._now());
    await this._exports.whenIdle();
    return result;
  }

  /**
   * Writes the buffered window to `stream` as one OTLP/HTTP JSON
   * `ExportTraceServiceRequest` body (POSTable to any collector's
   * `/v1/traces`), like Go's `FlightRecorder.WriteTo`. The spans are neither
   * exported nor removed from the buffer; each carries a new
   * `flight_recorder.snapshot.id` and the trigger `snapshot` (or
   * `options.trigger`). It writes a slice of spans at a time, waits for
   * `'drain'` when the stream asks, and leaves the stream open unless
   * `options.end` is true.
   *
   * Only one snapshot write runs at a time: a call while another is under
   * way rejects with a `SnapshotInProgressError`. A stream that errors or
   * closes early rejects the promise; the recorder keeps recording.
   */
  writeSnapshot(
    stream: NodeJS.WritableStream,
    options?: WriteSnapshotOptions,
  ): Promise<SnapshotWriteResult> {
    return writeWindowSnapshot(this, stream, options);
  }

  /** The recorder's counters and current sizes. */
  stats(): FlightRecorderStats {
    if (!this._off) this._evict(this._now());
    return {
      bufferedSpans: this._ring.length + this._pinned.length,
      bufferedBytes: this._ring.bytes + this._pinned.bytes,
      queuedSpans: this._exports?.length ?? 0,
      queuedBytes: this._exports?.bytes ?? 0,
      ...this._counters,
      triggers: { ...this._triggers },
    };
  }

  /** Waits for pending exports, then flushes the exporter. It does not flush the buffer: that is {@link snapshot}. */
  async forceFlush(): Promise<void> {
    await this._exports?.whenIdle();
    // Invariant: never waits on the exporter longer than exportTimeoutMs.
    await boundedWait(
      settleQuietly(() => this._exporter?.forceFlush?.(), 'forceFlush'),
      this._options.exportTimeoutMs,
    );
  }

  /**
   * Stops recording, exports what is pending within `exportTimeoutMs`, then
   * shuts the exporter down. Calling it again returns the same promise.
   */
  shutdown(): Promise<void> {
    this._shutdown ??= this._doShutdown();
    return this._shutdown;
  }

  private async _doShutdown(): Promise<void> {
    // Invariant: shutdown settles within exportTimeoutMs whatever the
    // exporter does (hangs, never calls back, never settles its shutdown):
    // one deadline covers the pending exports and the exporter's shutdown.
    const deadline = performance.now() + this._options.exportTimeoutMs;
    this._off = true;
    for (const detach of this._detach.splice(0)) detach();
    if (this._sweep !== undefined) clearInterval(this._sweep);
    this._ring.clear();
    this._pinned.clear();
    this._open.clear();
    this._flushed.clear();
    const exports = this._exports;
    if (exports !== undefined) {
      await boundedWait(exports.whenIdle(), deadline - performance.now());
      exports.discard();
    }
    if (this._exporter !== undefined) {
      const exporter = this._exporter;
      await boundedWait(
        settleQuietly(() => exporter.shutdown(), 'shutdown'),
        deadline - performance.now(),
      );
    }
  }

  /**
   * The buffered window, oldest first, without removing it.
   * @internal For snapshot writers and crash dumps.
   */
  _windowSpans(): ReadableSpan[] {
    if (!this._off) this._evict(this._now());
    const spans: ReadableSpan[] = [];
    const add = (span: ReadableSpan): void => {
      spans.push(span);
    };
    this._pinned.forEach(add);
    this._ring.forEach(add);
    return spans;
  }

  /**
   * The spans flushed and not yet delivered, oldest first: the batch in
   * flight, then those waiting for export.
   * @internal For crash dumps.
   */
  _pendingExportSpans(): ReadableSpan[] {
    const spans: ReadableSpan[] = [];
    this._exports?.forEachPending((span) => spans.push(span));
    return spans;
  }

  /**
   * Starts tracking the spans that have started and not ended, and returns
   * the live set. Costs a Set insert and delete per span, so only crash dumps
   * turn it on.
   * @internal
   */
  _trackOpenSpans(): ReadonlySet<Span> {
    this._openSpans ??= new Set();
    return this._openSpans;
  }

  /**
   * The time a span ending at `endMs` is recorded at, moving the recorder's
   * clock. Invariant: the clock (`_lastTime`) is finite and never more than
   * CLOCK_SKEW_MS ahead of the wall clock, so one span ending at NaN or in the
   * future cannot stop age eviction or turn window flushes off. Buffer
   * order is end order, so recorded times never decrease.
   */
  private _clock(endMs: number): number {
    let time = endMs;
    // Reads the wall clock only when the span ends past the last reading
    // (plus the skew allowed): about once per CLOCK_SKEW_MS under load.
    if (!(time <= this._wall + CLOCK_SKEW_MS)) {
      this._wall = Date.now();
      if (!(time <= this._wall + CLOCK_SKEW_MS)) time = this._wall;
    }
    if (time < this._lastTime) return this._lastTime;
    this._lastTime = time;
    return time;
  }

  private _now(): number {
    const now = Date.now();
    return Math.max(now, this._lastTime);
  }

  private _rootTrigger(span: ReadableSpan): string | undefined {
    if (this._error && span.status.code === SpanStatusCode.ERROR) return 'error';
    if (this._latency && hrTimeToMs(span.duration) > this._options.latencyThresholdMs) {
      return 'latency';
    }
    return undefined;
  }

  private _customTrigger(span: ReadableSpan): string | undefined {
    try {
      const name = this._options.shouldTrigger!(span);
      return typeof name === 'string' && name !== '' ? name : undefined;
    } catch (error) {
      if (!this._warnedShouldTrigger) {
        this._warnedShouldTrigger = true;
        diag.warn(`otel-flight-recorder: shouldTrigger threw; treating as no trigger: ${error}`);
      }
      return undefined;
    }
  }

  private _closeRoot(traceId: string): void {
    const open = this._open.get(traceId);
    if (open === undefined || --open.roots > 0) return;
    this._open.delete(traceId);
    if (open.pinned > 0) this._pinnedDirty = true;
  }

  /**
   * Moves spans to the export queue under one new mark: the trace's own
   * spans, or the whole window when `traceId` is not given or a window flush
   * is due. Remembers each flushed trace so its late spans follow.
   */
  private _flush(trigger: string, now: number, traceId?: string): SnapshotResult {
    const mark: FlushMark = { snapshotId: newSnapshotId(), trigger };
    this._triggers[trigger] = (this._triggers[trigger] ?? 0) + 1;
    this._counters.flushes++;
    const exports = this._exports;
    if (exports === undefined) return { ...mark, spans: 0, traces: 0 };
    const whole =
      traceId === undefined ||
      (this._options.flushScope === 'window' &&
        now - this._lastWindowFlush >= this._options.minFlushIntervalMs);
    const traces = new Set<string>();
    if (traceId !== undefined) traces.add(traceId);
    let spans: number;
    if (whole) {
      this._lastWindowFlush = now;
      const pinned = this._pinned;
      const ring = this._ring;
      const addTrace = (_span: ReadableSpan, tag: string): void => {
        traces.add(tag);
      };
      pinned.forEach(addTrace);
      ring.forEach(addTrace);
      spans = pinned.length + ring.length;
      // The buffer itself goes to the export queue, in O(1); the recorder
      // starts a new one. Pinned spans are older than the ring's, so go first.
      this._pinned = new SpanDeque<string>(Math.min(pinned.capacity, 1024));
      this._ring = new SpanDeque<string>(ring.capacity);
      exports.enqueue([pinned, ring], mark);
    } else {
      const own = new SpanDeque<string>(16);
      const mine = (tag: string) => tag === traceId;
      spans =
        this._pinned.removeWhere(mine, own, traceId) + this._ring.removeWhere(mine, own, traceId);
      exports.enqueue([own], mark);
    }
    for (const id of traces) {
      const open = this._open.get(id);
      if (open !== undefined) open.pinned = 0;
      this._flushed.delete(id);
      this._flushed.set(id, mark);
    }
    while (this._flushed.size > MAX_FLUSHED_TRACES) {
      this._flushed.delete(this._flushed.keys().next().value as string);
    }
    exports.schedule(0);
    const result = { ...mark, spans, traces: traces.size };
    if (this._options.onFlush !== undefined) {
      this._notify({ ...result, traceId, scope: whole ? 'window' : 'trace' });
    }
    return result;
  }

  private _notify(flush: FlushInfo): void {
    try {
      this._options.onFlush!(flush);
    } catch (error) {
      if (this._warnedOnFlush) return;
      this._warnedOnFlush = true;
      diag.warn(`otel-flight-recorder: onFlush threw (further errors are silent): ${error}`);
    }
  }

  /** Applies both bounds. */
  private _evict(now: number): void {
    this._evictByAge(now);
    this._evictByBytes();
  }

  /** The oldest spans go until the buffer fits in `maxBytes`, pinned or not. */
  private _evictByBytes(): void {
    const ring = this._ring;
    const pinned = this._pinned;
    const maxBytes = this._options.maxBytes;
    while (ring.bytes + pinned.bytes > maxBytes) {
      if (pinned.length > 0) {
        const open = this._open.get(pinned.headTag()!);
        if (open !== undefined) open.pinned--;
        pinned.shift();
      } else {
        ring.shift();
      }
      this._counters.spansEvictedByBytes++;
    }
  }

  /**
   * Spans that ended more than `minAgeMs` before `now` go, except those of a
   * trace whose local root is open: they move to the pinned deque.
   */
  private _evictByAge(now: number): void {
    const ring = this._ring;
    const pinned = this._pinned;
    const cutoff = now - this._options.minAgeMs;
    while (ring.headTime() < cutoff) {
      const open = this._open.get(ring.headTag()!);
      if (open !== undefined) {
        // Its local root is still open: keep it so the whole trace can go out.
        open.pinned++;
        ring.shift(pinned);
      } else {
        ring.shift();
        this._counters.spansEvictedByAge++;
      }
    }
    if (this._pinnedDirty) {
      this._pinnedDirty = false;
      this._counters.spansEvictedByAge += pinned.removeWhere((tag) => !this._open.has(tag));
    }
  }

  private _warnOnce(error: unknown): void {
    if (this._warnedOnEnd) return;
    this._warnedOnEnd = true;
    diag.error(
      `otel-flight-recorder: failed to record a span (further failures are silent): ${error}`,
    );
  }
}

/**
 * Calls one of the exporter's methods and resolves once its promise settles,
 * never rejecting: a throw or rejection is logged.
 */
async function settleQuietly(call: () => unknown, what: string): Promise<void> {
  try {
    await call();
  } catch (error) {
    diag.error(`otel-flight-recorder: exporter ${what} failed: ${String(error)}`);
  }
}

function newSnapshotId(): string {
  return randomBytes(8).toString('hex');
}

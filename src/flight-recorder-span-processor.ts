import { type Context, diag, TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace';
import {
  describe,
  LOG_PROCESSOR_OPTIONS,
  type ResolvedLogProcessorOptions,
  resolveOptions,
  resolveTable,
} from './config.js';
import type { Coordinator } from './coordination/coordinator.js';
import { resolveCoordination, startCoordination } from './coordination/start.js';
import { warnAboutEnv, warnAboutSetup } from './env-warnings.js';
import { defaultSink } from './export/default-sink.js';
import { ExportPace } from './export/export-pace.js';
import { ExportQueue, MIN_QUEUE_BYTES, type RecordSink } from './export/export-queue.js';
import { SpanExporterSink } from './export/sinks.js';
import { decodeRecord } from './export/span-decoder.js';
import type { FlushContributor } from './flush/contributors.js';
import { FlushedTraces } from './flush/flushed-traces.js';
import { Flusher } from './flush/flusher.js';
import { FlightRecorderLogRecordProcessor } from './logs/flight-recorder-log-record-processor.js';
import type { LogRequestExporter } from './logs/log-export.js';
import { severityNumberOf } from './logs/log-record.js';
import { type FlushMark, newSnapshotId } from './marks.js';
import type {
  FlightRecorderOptions,
  FlightRecorderStats,
  FlushScope,
  LogRecordProcessorOptions,
  LogStats,
  ResolvedOptions,
  SnapshotResult,
} from './options.js';
import { countTraces, OPEN, ROOT } from './record/record-run.js';
import { ClosedTraces } from './record/closed-traces.js';
import { OpenTraces } from './record/open-traces.js';
import { RecorderClock } from './record/recorder-clock.js';
import { ResourceScopeTable } from './record/resource-scope-table.js';
import { SpanEncoder } from './record/span-encoder.js';
import { ringLayout, SpanRing } from './record/span-ring.js';
import { RuntimeEvents } from './runtime/runtime-events.js';
import { traceRecords } from './record/trace-records.js';
import { repair } from './sanitize.js';
import { installCrashDump, MAX_OPEN_SPANS } from './snapshot/crash-dump.js';
import { installSnapshotSignal } from './snapshot/snapshot-signal.js';
import {
  type SnapshotWriteResult,
  runView,
  type WindowView,
  type WriteSnapshotOptions,
  writeWindowSnapshot,
} from './snapshot/snapshot-writer.js';
import { boundedWait } from './timer.js';
import type { FlushBudget } from './trigger/flush-budget.js';
import { FlushPolicy, triggerCounts } from './trigger/flush-policy.js';
import type { TriggerDecision, TriggerHost, TriggerPolicy } from './trigger/trigger-policy.js';
import { WaitingTriggers } from './trigger/waiting-triggers.js';

/** How far ahead of the wall clock a span's end time may move the recorder's clock. */
const CLOCK_SKEW_MS = 1_000;
/** Late spans are gathered this long before they are exported together, or until the paced call pending. */
const LATE_EXPORT_DELAY_MS = 100;

function hrTimeToMs(t: readonly [number, number]): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

function isLocalRoot(span: ReadableSpan): boolean {
  const parent = span.parentSpanContext;
  return parent === undefined || parent.isRemote === true;
}

/**
 * A span processor that records every ended span in memory, encoded once as
 * OTLP protobuf into a byte ring of exactly `maxBytes` (bounded by age too,
 * `minAgeMs`), and exports only when something worth seeing happens: a local
 * root span that is slow or fails, a custom trigger, or a manual
 * {@link snapshot}. A flush exports the triggering trace and, at most once
 * per `minFlushIntervalMs`, the whole preceding window. No span is exported
 * twice.
 *
 * The parts, as the data flows: `record/` (encoder, ring and index, open
 * traces), `trigger/` (the policy asked on each ended span, and the
 * triggers waiting for a root or for the policy), `flush/` (the flusher that
 * takes records out under a mark, request assembly, flushed-trace memory,
 * contributors), `export/` (the export queue and its sinks), `snapshot/`
 * (files, signal, crash dump). This class wires them together and keeps
 * the recorder's clock.
 *
 * @example
 * ```ts
 * const sdk = new NodeSDK({ spanProcessors: [new FlightRecorderSpanProcessor()] });
 * ```
 */
export class FlightRecorderSpanProcessor implements SpanProcessor {
  private readonly _options: ResolvedOptions;
  private readonly _sink: RecordSink | undefined;
  private readonly _exports: ExportQueue | undefined;
  private readonly _table = new ResourceScopeTable();
  private readonly _ring: SpanRing;
  private readonly _open: OpenTraces;
  /** Where recently closed traces' records start: a later trigger of theirs takes them too. */
  private readonly _closed: ClosedTraces;
  private readonly _flushed: FlushedTraces;
  /** Triggers not flushed yet: waiting for a local root to end, or deferred by the policy. */
  private readonly _waiting: WaitingTriggers;
  private readonly _flusher: Flusher;
  private readonly _sweep: ReturnType<typeof setInterval> | undefined;
  /** Shares triggers with other services over Redis, when configured (`src/coordination/`). */
  private readonly _coordination: Coordinator | undefined;
  private readonly _counters = {
    spansRecorded: 0,
    spansEvictedByAge: 0,
    spansEvictedByBytes: 0,
    spansTooLarge: 0,
    flushes: 0,
    spansLate: 0,
  };
  private readonly _triggers: Record<string, number> = triggerCounts();
  /** Triggers the budget suppressed, by reason (the flush policy's counters). */
  private readonly _suppressed: Record<string, number>;
  private readonly _thresholds: () => Record<string, number>;
  /**
   * The trigger policy asked on each ended span.
   * @internal Replaced by flush-budget policies (`src/trigger/`).
   */
  _policy: TriggerPolicy;
  /** The pace of local trace flushes' export calls: one per `exportDelayMs`. */
  private readonly _pace: ExportPace;
  /**
   * The flush budget every trace flush spends from: a part that flushes
   * traces on the recorder's behalf takes a token with `tryTake(now)` first.
   * @internal For cross-process coordination.
   */
  readonly _budget: FlushBudget;
  /**
   * Asked once per flush for spans to add to it.
   * @internal For runtime events and, later, log lines.
   */
  readonly _contributors: FlushContributor[] = [];
  /**
   * GC pauses and event-loop stalls, one of the contributors.
   * @internal For tests, which inject events.
   */
  readonly _runtime: RuntimeEvents | undefined;
  private _off: boolean;
  private _logs: FlightRecorderLogRecordProcessor | undefined;
  /** The options `_logs` was made with (the first `logRecordProcessor()` call's). */
  private _logOptions: ResolvedLogProcessorOptions | undefined;
  private _warnedLogOptions = false;
  /**
   * Where the log processor sends its requests instead of OTLP/HTTP.
   * @internal For tests; set before {@link logRecordProcessor}.
   */
  _logExporter: LogRequestExporter | undefined;
  /** What records are stamped with, and what age, the interval and the budget measure. */
  private readonly _clock = new RecorderClock(CLOCK_SKEW_MS);
  private _warnedOnEnd = false;
  private _shutdown: Promise<void> | undefined;
  /** Spans started and not yet ended; tracked only when a crash dump needs them. */
  private _openSpans: Set<Span> | undefined;
  /** Removes the process listeners of the snapshot signal and the crash dump. */
  private readonly _detach: (() => void)[] = [];
  /**
   * The signal and crash listeners: removed only once shutdown has settled,
   * so that a snapshot signal during shutdown does not get Node's default
   * action (ending the process, and the export in flight with it) and a
   * crash during it still leaves a dump of what was being exported.
   */
  private readonly _detachLast: (() => void)[] = [];

  /**
   * @throws TypeError when an option is invalid, naming the option and value.
   */
  constructor(options?: FlightRecorderOptions) {
    const o = resolveOptions(options, process.env, warnAboutEnv);
    // Every option is checked before anything is installed in the process
    // (timers, signal and crash listeners): a constructor that throws leaves nothing behind.
    const coordination = o.disabled
      ? undefined
      : resolveCoordination(o.coordination, process.env, warnAboutEnv);
    this._options = o;
    this._pace = new ExportPace(o.exportDelayMs);
    this._off = o.disabled;
    const policy = new FlushPolicy(
      {
        latency: o.triggers.includes('latency'),
        error: o.triggers.includes('error'),
        latencyThresholdMs: o.latencyThresholdMs,
        latencyFloorMs: o.latencyFloorMs,
        maxTracesPerSecond: o.maxTracesPerSecond,
        shouldTrigger: o.shouldTrigger,
      },
      this._host,
    );
    this._policy = policy;
    this._budget = policy.budget;
    this._thresholds = () => policy.thresholds();
    this._suppressed = policy.suppressed;
    const { ringBytes, capacity } = ringLayout(o.disabled ? 1 : o.maxBytes);
    this._ring = new SpanRing(ringBytes, capacity, new SpanEncoder(), this._counters);
    this._open = new OpenTraces(this._ring, this._counters);
    this._closed = new ClosedTraces(capacity);
    this._flushed = new FlushedTraces(this._closed);
    this._waiting = new WaitingTriggers(this._open, this._ring);
    if (!o.disabled) {
      this._sink =
        o.exporter !== undefined
          ? new SpanExporterSink(o.exporter, this._table)
          : defaultSink(this._table);
      this._exports = new ExportQueue({
        sink: this._sink,
        maxBytes: Math.max(o.maxBytes, MIN_QUEUE_BYTES),
        batchSize: o.maxExportBatchSize,
        batchBytes: o.maxExportBatchBytes,
        table: this._table,
        timeoutMs: o.exportTimeoutMs,
      });
    }
    this._flusher = new Flusher({
      ring: this._ring,
      table: this._table,
      open: this._open,
      closed: this._closed,
      flushed: this._flushed,
      waiting: this._waiting,
      exports: this._exports,
      pace: this._pace,
      contributors: () => this._contributors,
      counters: this._counters,
      triggers: this._triggers,
      options: o,
      record: (span, ctx, time, state) => this._record(span, ctx, time, state),
      lastTime: () => this._clock.last,
      coordination: () => this._coordination,
      logs: () => this._logs,
      warn: (error) => this._warnOnce(error),
    });
    if (!o.disabled) {
      // Ages spans out while no span ends, so an idle process lets go of them.
      const every = Math.min(Math.max(o.minAgeMs / 2, 1_000), 60_000);
      this._sweep = setInterval(() => this._evictByAge(this._now()), every);
      this._sweep.unref();
      const dir = { directory: o.snapshotDir };
      if (o.snapshotSignal !== undefined) {
        this._detachLast.push(installSnapshotSignal(this, o.snapshotSignal, dir));
      }
      if (o.crashDump) this._detachLast.push(installCrashDump(this, dir));
      if (o.runtimeEvents) {
        this._runtime = new RuntimeEvents(
          {
            stallThresholdMs: o.stallThresholdMs,
            stallTriggerMs: o.stallTriggerMs,
            minAgeMs: o.minAgeMs,
          },
          {
            triggerWindow: (reason, span) => this._triggerWindow(reason, span),
            // Its events and spans are exported: the wall clock, as the spans' own times.
            now: () => this._clock.wallNow(),
          },
        );
        this._contributors.push(this._runtime);
        this._detach.push(() => this._runtime!.stop());
      }
      this._coordination = startCoordination(coordination!, {
        heldRecords: (traceId, firstSeq) => this._heldRecords(traceId, firstSeq),
        closedFirst: (traceId) => this._closedHops(traceId, true),
        forgetClosed: (traceId) => {
          // The table also says which window flush took the trace: its later
          // spans must still follow that flush once the entry is gone.
          const mark = this._flushed.lateMark(traceId, undefined);
          if (mark !== undefined) this._flushed.set(traceId, mark);
          this._closed.forget(traceId);
        },
        // Also when the trace is still being served here with nothing ended
        // (a trigger from downstream): its spans that end from now on
        // follow the mark, and its log records go now and later with it.
        flushRemote: (traceId, mark, records) => {
          if (this._off) return;
          this._flusher.flush(mark, this._now(), traceId, undefined, records, true);
        },
        now: () => this._now(),
      });
    }
  }

  /**
   * The `LogRecordProcessor` (`@opentelemetry/sdk-logs`) that records every
   * log record and ships each trace's records with its flush, sharing this
   * recorder's triggers; one per recorder (the same object each call).
   * Register it with `NodeSDK({ logRecordProcessors: [...] })` or
   * `new LoggerProvider({ processors: [...] })`. Its options are this
   * recorder's `log*` options, `flushOnErrorLog` and `logsAsSpanEvents`, and
   * `options`, checked as the constructor checks its own (an unknown key is
   * warned about) and read on the first call: a later call with other
   * options warns once and changes nothing.
   * @throws TypeError when an option is invalid, naming the option and value.
   */
  logRecordProcessor(options?: LogRecordProcessorOptions): FlightRecorderLogRecordProcessor {
    const given = resolveTable(LOG_PROCESSOR_OPTIONS, options, process.env, warnAboutSetup);
    if (this._logs !== undefined) {
      if (options !== undefined) this._sameLogOptions(given);
      return this._logs;
    }
    this._logOptions = given;
    const o = this._options;
    this._logs = new FlightRecorderLogRecordProcessor(
      this,
      {
        disabled: o.disabled,
        logMaxBytes: o.logMaxBytes,
        logMinAgeMs: o.logMinAgeMs,
        logMaxRecordBytes: o.logMaxRecordBytes,
        logPassThroughSeverity: severityNumberOf(o.logPassThroughSeverity),
        flushOnErrorLog: o.flushOnErrorLog,
        logsAsSpanEvents: o.logsAsSpanEvents,
        exportLogs: given.exportLogs,
        maxExportBatchSize: o.maxExportBatchSize,
        maxExportBatchBytes: o.maxExportBatchBytes,
        exportTimeoutMs: o.exportTimeoutMs,
      },
      this._logExporter,
    );
    return this._logs;
  }

  /**
   * Warns, once per recorder, when a later `logRecordProcessor(options)`
   * asks for other options than the first call's, which stay in force.
   */
  private _sameLogOptions(given: ResolvedLogProcessorOptions): void {
    const first = this._logOptions!;
    if (this._warnedLogOptions) return;
    for (const name of Object.keys(LOG_PROCESSOR_OPTIONS) as (keyof typeof first)[]) {
      if (given[name] === first[name]) continue;
      this._warnedLogOptions = true;
      warnAboutSetup(
        `otel-flight-recorder: logRecordProcessor() was called before with ${name}: ${describe(first[name])}; ignoring ${name}: ${describe(given[name])} (its options are read on the first call only)`,
      );
      return;
    }
  }

  /** The flush scope in force, after options and environment. */
  get flushScope(): FlushScope {
    return this._options.flushScope;
  }

  onStart(span: Span, parentContext: Context): void {
    if (this._off) return;
    try {
      const openSpans = this._openSpans;
      if (openSpans !== undefined) {
        openSpans.add(span);
        // Spans that never end must not hold memory forever: forget the oldest
        // started. No more than a dump writes: it would leave the rest out.
        if (openSpans.size > MAX_OPEN_SPANS) {
          openSpans.delete(openSpans.values().next().value!);
        }
      }
      if (isLocalRoot(span)) {
        const traceId = span.spanContext().traceId;
        // Only a root under a remote parent can be a trace served here
        // before (a retry, another call from upstream), and flushed by its
        // own flush or a window flush, or taken by a window flush while this
        // hop is open: a root with no parent starts a new trace, and skips
        // the lookups.
        if (span.parentSpanContext === undefined) this._open.start(traceId);
        else {
          const last = this._closedHops(traceId, false);
          this._open.start(traceId, this._flushed.startMark(traceId, last), last);
        }
        this._coordination?.rootStarted(traceId, span, parentContext);
      }
    } catch (error) {
      this._warnOnce(error);
    }
  }

  onEnd(span: ReadableSpan): void {
    if (this._off) return;
    try {
      this._openSpans?.delete(span as Span);
      // Bookkeeping (open roots, flushed traces) uses the span's own trace
      // id, as onStart saw it, even when the recorded copy is repaired.
      const ctx = span.spanContext();
      const traceId = ctx.traceId;
      const root = isLocalRoot(span);
      const time = this._clock.stamp(endMsOf(span));
      let reason = this._reason(span, root, time);
      if (root) reason = this._waiting.rootTrigger(traceId, reason);
      if (this._options.skipSampled && (ctx.traceFlags & TraceFlags.SAMPLED) !== 0) {
        // Another processor exports sampled spans; this one still triggers.
        if (reason !== undefined && this._decide(reason, traceId, span, time) === 'flush') {
          this._flusher.flush(reason, time, traceId);
        }
        if (root) this._closeRoot(traceId);
        return;
      }
      this._counters.spansRecorded++;
      const ring = this._ring;
      if (ring.ageTime() < time - this._options.minAgeMs) {
        ring.evictOlderThan(time - this._options.minAgeMs);
      }
      const open = this._open.get(traceId);
      // A span of a trace that a trace flush took already follows that flush,
      // whatever its own trigger: one snapshot per trace, and no token spent.
      if (reason !== undefined && this._flushed.traceMark(traceId, open) !== undefined) {
        reason = undefined;
      }
      const state = (open === undefined ? 0 : OPEN) | (root ? ROOT : 0);
      const decision = reason === undefined ? undefined : this._decide(reason, traceId, span, time);
      if (decision === 'flush') {
        // The flush takes the trace's records out first and encodes the
        // triggering span after them, so its own bytes evict none of them.
        this._flusher.flush(
          reason!,
          time,
          traceId,
          { span, ctx, state },
          undefined,
          false,
          this._policy.evidence?.(reason!),
        );
        if (root) this._closeRoot(traceId);
        return;
      }
      const seq = this._record(span, ctx, time, state);
      if (seq < 0) {
        // Too large for the ring (or no room for its scope): counted, nothing else evicted.
        if (seq !== UNREADABLE) this._counters.spansEvictedByBytes++;
        if (decision === 'defer') this._waiting.defer(traceId, -1, reason!);
        if (root) this._closeRoot(traceId);
        return;
      }
      // Not deferred: a span of a trace already flushed (a window flush took
      // part of it, say) follows that flush, suppressed trigger or none.
      if (decision !== 'defer') {
        const mark = this._flushed.lateMark(traceId, open);
        if (mark !== undefined && this._exports !== undefined) {
          // A late span of a trace already flushed goes straight out with its marks.
          this._counters.spansLate++;
          this._exports.pushLate(ring, seq, mark);
          ring.remove(seq);
          // A late span joins the paced call its trace flush waits for, if
          // one is pending; else (a window or remote flush, which went at
          // once, or a call gone already) it follows within 100 ms.
          this._exports.schedule(Math.max(LATE_EXPORT_DELAY_MS, this._pace.pending(time)));
          if (root) this._closeRoot(traceId);
          return;
        }
      }
      if (open !== undefined) this._open.add(open, seq);
      // Deferred by the policy: its records stay in reach. (Suppressed: they
      // stay in the ring and age out as any others.)
      if (decision === 'defer') this._waiting.defer(traceId, seq, reason!);
      // A span of a deferred trace whose local root has ended joins it.
      else if (open === undefined) {
        const deferred = this._waiting.deferred(traceId);
        if (deferred !== undefined) this._waiting.add(deferred, seq);
      }
      // A span that ended after its trace's roots: where the trace ends now
      // (not a deferred one that follows a window flush once let go of).
      if (
        open === undefined &&
        (decision !== 'defer' || this._flushed.lateMark(traceId, undefined) === undefined)
      ) {
        this._closed.recorded(traceId, seq);
      }
      // The root closes last: until then its trace's pinned records must stay.
      if (root) this._closeRoot(traceId);
    } catch (error) {
      this._warnOnce(error);
    }
  }

  /**
   * Encodes the span into the ring; a span the encoder had to sanitize is
   * repaired and encoded again. Returns its sequence number, -1 when it does
   * not fit (the caller counts it), or {@link UNREADABLE} when reading it
   * threw (an attribute getter that throws): that span alone is lost, warned
   * about, and its caller goes on as for one that does not fit, so a local
   * root still closes its trace.
   */
  private _record(
    span: ReadableSpan,
    ctx: ReturnType<ReadableSpan['spanContext']>,
    time: number,
    state: number,
  ): number {
    try {
      return this._encode(span, ctx, time, state);
    } catch (error) {
      this._warnOnce(error);
      return UNREADABLE;
    }
  }

  private _encode(
    span: ReadableSpan,
    ctx: ReturnType<ReadableSpan['spanContext']>,
    time: number,
    state: number,
  ): number {
    const ring = this._ring;
    let pair = this._table.idOf(span.resource, span.instrumentationScope);
    if (pair < 0 && this._renewPairs())
      pair = this._table.idOf(span.resource, span.instrumentationScope);
    if (pair < 0) return -1;
    const seq = ring.append(span, ctx, pair, time, state);
    if (seq < 0 || !ring.suspect) return seq;
    // Invariant (carry it over to any new recording path): what is recorded
    // is safe to export, write and dump whatever the app put in the span
    // (NaN, infinite or negative times, bad ids, values nested too deep).
    ring.remove(seq);
    const repaired = repair(span, Date.now());
    return ring.append(repaired, repaired.spanContext(), pair, time, state);
  }

  /**
   * Exports the whole buffered window now, marked with `reason` as its
   * trigger (`manual` by default), and resolves once it has been exported
   * (or its export failed), with what was queued for export before it;
   * what is queued after it does not hold it. Flushed spans leave the
   * buffer. This ignores `flushScope` and `minFlushIntervalMs`, and
   * restarts the interval. A `reason` that is not a string rejects with a
   * `TypeError`, and the buffer is left as it was.
   */
  async snapshot(reason = 'manual'): Promise<SnapshotResult> {
    if (typeof reason !== 'string') {
      throw new TypeError(`Expected \`reason\` to be a string, got ${describe(reason)}`);
    }
    if (this._off || this._exports === undefined) {
      return { snapshotId: newSnapshotId(), trigger: reason, spans: 0, traces: 0 };
    }
    this._evictByAge(this._now());
    const flushed = this._flusher.snapshot(reason, this._now());
    const result = flushed.result;
    // Counted off the synchronous step, a slice at a time (it reads every
    // record), while the export goes on. Only the count is awaited: no
    // variable here holds the detached window while a slow export is
    // awaited, once the export queue has let go of it.
    const counting = result.traces >= 0 ? undefined : countTraces(flushed.run);
    const added = flushed.addedTraces;
    flushed.run = undefined;
    const traces = counting === undefined ? result.traces : (await counting) + added;
    await this._exports.whenDelivered();
    return { ...result, traces };
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
    if (!this._off) this._evictByAge(this._now());
    const exports = this._exports;
    const ring = this._ring;
    const c = this._counters;
    return {
      bufferedSpans: ring.length,
      bufferedBytes: ring.bytes,
      queuedSpans: exports?.length ?? 0,
      queuedBytes: exports?.bytes ?? 0,
      spansRecorded: c.spansRecorded,
      spansEvictedByAge: c.spansEvictedByAge,
      spansEvictedByBytes: c.spansEvictedByBytes,
      flushes: c.flushes,
      spansLate: c.spansLate,
      spansExported: exports?.counters.spansExported ?? 0,
      spansDropped: exports?.counters.spansDropped ?? 0,
      exportFailures: exports?.counters.exportFailures ?? 0,
      gcPausesRecorded: this._runtime?.counters.gcPausesRecorded ?? 0,
      stallsRecorded: this._runtime?.counters.stallsRecorded ?? 0,
      runtimeEventsAttached: this._runtime?.counters.runtimeEventsAttached ?? 0,
      remoteTriggersPublished: this._coordination?.counters.published ?? 0,
      remotePublishFailures: this._coordination?.counters.publishFailures ?? 0,
      remoteTriggersReceived: this._coordination?.counters.received ?? 0,
      remoteFlushes: this._coordination?.counters.flushes ?? 0,
      remoteTriggersIgnored: this._coordination?.counters.ignored ?? 0,
      remoteTriggersRefused: this._coordination?.counters.refused ?? 0,
      triggers: { ...this._triggers },
      triggersSuppressed: { ...this._suppressed },
      latencyThresholdsMs: this._thresholds(),
      ...(this._logs?.stats() ?? NO_LOGS),
    };
  }

  /** Waits for pending exports, then flushes the exporter. It does not flush the buffer: that is {@link snapshot}. */
  async forceFlush(): Promise<void> {
    // Invariant: settles within exportTimeoutMs, however many batches wait
    // and whatever the exporter does; what is left keeps going after.
    const deadline = performance.now() + this._options.exportTimeoutMs;
    if (!this._off) this._policy.drain?.();
    if (this._exports !== undefined) {
      await boundedWait(this._exports.whenDelivered(), this._options.exportTimeoutMs);
    }
    const sink = this._sink;
    if (sink === undefined) return;
    await boundedWait(
      settleQuietly(() => sink.forceFlush(), 'forceFlush'),
      Math.max(0, deadline - performance.now()),
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
    // Triggers collected and not yet decided flush now, within the budget.
    if (!this._off) this._policy.drain?.();
    this._off = true;
    for (const detach of this._detach.splice(0)) detach();
    if (this._sweep !== undefined) clearInterval(this._sweep);
    this._coordination?.close();
    this._policy.close?.();
    this._ring.clear();
    this._open.clear();
    this._closed.clear();
    this._flushed.clear();
    this._waiting.clear();
    try {
      await this._settleExports(deadline);
    } finally {
      for (const detach of this._detachLast.splice(0)) detach();
    }
  }

  /** Shutdown's last part: what is being exported goes, then the exporter shuts down, by `deadline`. */
  private async _settleExports(deadline: number): Promise<void> {
    const exports = this._exports;
    if (exports !== undefined) {
      await boundedWait(exports.whenIdle(), deadline - performance.now());
      exports.discard();
    }
    const sink = this._sink;
    if (sink !== undefined) {
      await boundedWait(
        settleQuietly(() => sink.shutdown(), 'shutdown'),
        deadline - performance.now(),
      );
      sink.release?.();
    }
  }

  /** @internal For the snapshot signal: whether shutdown has begun. */
  _shuttingDown(): boolean {
    return this._shutdown !== undefined;
  }

  /**
   * The buffered window, decoded, oldest first, without removing it.
   * @internal For crash dumps and tests; snapshot writers use {@link _windowView}.
   */
  _windowSpans(): ReadableSpan[] {
    const view = this._windowView();
    return view.spans(0, view.length);
  }

  /**
   * A copy of the buffered window's records, decoded a slice at a time.
   * @internal For snapshot writers.
   */
  _windowView(maxBytes?: number): WindowView {
    if (!this._off) this._evictByAge(this._now());
    const run = this._ring.copyWindow({ snapshotId: '', trigger: '' }, maxBytes);
    // Snapshots show the buffered log lines as events on their spans.
    this._logs?._addEventsTo(run);
    return runView(run, this._table, this._ring.length - run.length);
  }

  /**
   * The spans flushed and not yet delivered, oldest first: the batch in
   * flight, then those waiting for export, within `maxBytes` of OTLP
   * protobuf; `left` counts those that did not fit.
   * @internal For crash dumps.
   */
  _pendingExportSpans(maxBytes = Number.POSITIVE_INFINITY): {
    spans: ReadableSpan[];
    bytes: number;
    left: number;
  } {
    const spans: ReadableSpan[] = [];
    let bytes = 0;
    let left = 0;
    this._exports?.forEachPending((run, slot) => {
      const n = run.xlen[slot]!;
      if (bytes + n > maxBytes) {
        left++;
        return;
      }
      bytes += n;
      spans.push(decodeRecord(run, slot, this._table, true));
    });
    return { spans, bytes, left };
  }

  /**
   * The resource of the span recorded last, if any: a crash dump's own span
   * takes it when no span of the dump has one.
   * @internal For crash dumps.
   */
  _lastResource(): ReadableSpan['resource'] | undefined {
    return this._table.lastResource();
  }

  /**
   * The buffered log records as span events, by trace id and span id.
   * @internal For crash dumps.
   */
  _logEventsBySpan(): Map<string, TimedEvent[]> {
    return this._logs?._eventsBySpan() ?? new Map();
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

  /** Now on the recorder's clock (see {@link RecorderClock}). */
  private _now(): number {
    return this._clock.now();
  }

  /**
   * Makes the local root of `traceId`, still open here, trigger `reason`
   * when it ends (unless it triggers for a reason of its own), through the
   * trigger policy like any span trigger, so its whole trace goes in one
   * flush. False when no local root of the trace is open.
   * @internal For the log processor's `error-log` trigger.
   */
  _triggerAtRootEnd(traceId: string, reason: string): boolean {
    if (this._off || this._open.get(traceId) === undefined) return false;
    this._waiting.atRootEnd(traceId, reason);
    return true;
  }

  /**
   * A trigger of trace `traceId` that is not one of its spans' (an ERROR log
   * record in it, emitted while no local root of it is open here), through
   * the trigger policy; `span` is the span it was emitted in. Only when the
   * recorder can still reach some of the trace's records: a trigger that
   * could flush nothing spends no token.
   * @internal For the log processor.
   */
  _triggerTrace(traceId: string, reason: string, span: ReadableSpan): void {
    if (this._off) return;
    // Open, deferred, or closed (found in the closed-trace table): a
    // trigger that could flush nothing spends no token.
    if (!this._reachable(traceId)) return;
    const decision = this._decide(reason, traceId, span, this._now());
    if (decision === 'flush') this._host.flushTrace(traceId, reason);
    else if (decision === 'defer') this._waiting.defer(traceId, -1, reason);
  }

  /** The policy's trigger for `span`, or undefined; a policy that throws triggers nothing. */
  private _reason(span: ReadableSpan, root: boolean, now: number): string | undefined {
    try {
      return this._policy.reason(span, root, now);
    } catch (error) {
      this._warnOnce(error);
      return undefined;
    }
  }

  /** The policy's decision on a trigger; a policy that throws suppresses it, and the span is still recorded. */
  private _decide(
    reason: string,
    traceId: string,
    span: ReadableSpan,
    now: number,
  ): TriggerDecision {
    try {
      return this._policy.decide(reason, traceId, span, now);
    } catch (error) {
      this._warnOnce(error);
      return 'suppress';
    }
  }

  private _closeRoot(traceId: string): void {
    // A deferred trace keeps its records pinned until the policy decides.
    const deferred = this._waiting.deferred(traceId);
    const open = this._open.close(traceId, deferred === undefined);
    if (open === undefined) return;
    // A deferred trace lists its closed roots' records itself (a storm
    // closes thousands so, and the flushes that follow need no scan); it is
    // noted here once the policy lets go of it.
    if (deferred === undefined) this._closed.closed(traceId, open.firstSeq, open.lastSeq);
    deferred?.closedRoot(open);
    // Its spans that end from now on still follow the flush that took it.
    const mark = this._flushed.lateMark(traceId, open);
    if (mark !== undefined) this._flushed.set(traceId, mark);
  }

  /**
   * A trigger that is not a span's (an event-loop stall): a window flush,
   * through the trigger policy like any other, and at most once per
   * `minFlushIntervalMs` like any window flush.
   */
  private _triggerWindow(reason: string, span: ReadableSpan): void {
    if (this._off) return;
    const now = this._now();
    if (!this._flusher.windowDue(now)) return;
    const traceId = span.spanContext().traceId;
    const decision = this._policy.decide(reason, traceId, span, now);
    if (decision === 'flush') this._flusher.flush(reason, now);
    // The policy may pick it later (host.flushTrace): a window flush then.
    else if (decision === 'defer') this._waiting.deferWindow(traceId, reason);
  }

  /**
   * Flushes a trace the policy deferred (or any trace), with what the ring
   * still holds of it.
   * @internal For trigger policies, through {@link TriggerHost}.
   */
  readonly _host: TriggerHost = {
    flushTrace: (traceId, reason, evidence) => {
      if (this._off) return false;
      const windowReason = this._waiting.takeWindow(traceId);
      if (windowReason !== undefined) {
        const now = this._now();
        if (!this._flusher.windowDue(now)) return false;
        this._flusher.flush(windowReason, now);
        return true;
      }
      const seqs = this._waiting.deferred(traceId)?.records(reason);
      const ring = this._ring;
      // Its own records, else what its open and closed hops left (a scan
      // only when the first are gone).
      const any =
        (seqs ?? []).some((s) => ring.isLive(s)) ||
        (this._heldRecords(traceId, undefined)?.length ?? 0) > 0;
      if (any) this._flusher.flush(reason, this._now(), traceId, undefined, seqs, true, evidence);
      this._waiting.forget(traceId);
      return any;
    },
    forget: (traceId) => {
      // The policy let the trace's last candidate go. When a flush took part
      // of the trace already (a window flush while its root was open), what
      // was held for the policy follows that flush, as its late spans do.
      const deferred = this._waiting.deferred(traceId);
      const open = this._open.get(traceId);
      const mark =
        deferred !== undefined && deferred.candidates <= 1
          ? this._flushed.lateMark(traceId, open)
          : undefined;
      if (mark !== undefined) {
        this._followLate(deferred!.records(), mark);
        // And what its open roots held back while it waited (the trigger
        // spans of a trace still being served).
        if (open !== undefined) this._followLate(open.seqs, mark);
      }
      const closed = deferred?.closed;
      this._waiting.dropCandidate(traceId);
      if (closed !== undefined && this._waiting.deferred(traceId) === undefined) {
        this._closed.closed(
          traceId,
          closed.firstSeq,
          Math.max(closed.lastSeq, lastOf(deferred!.pinned)),
        );
      }
    },
    now: () => this._now(),
  };

  /**
   * The flush a log record of `traceId` emitted now follows, if any (no
   * lookup until something was flushed): the trace flush that took the
   * trace, or, once no local root of it is open here, the window flush its
   * late spans follow. While a root is open its records wait for what takes
   * its spans next (its own flush, with them as events on their spans). A
   * record that triggers (`triggers`) follows a window flush only when the
   * trigger could flush nothing (the ring holds nothing of the trace).
   * @internal For the log processor.
   */
  _lateMarkOf(traceId: string, triggers: boolean): FlushMark | undefined {
    if (this._off || !this._flushed.any) return undefined;
    const open = this._open.get(traceId);
    if (open !== undefined) return this._flushed.traceMark(traceId, open);
    const mark = this._flushed.lateMark(traceId, undefined);
    if (!triggers || mark === undefined || !this._flushed.isWindow(mark)) return mark;
    return this._reachable(traceId) ? undefined : mark;
  }

  /**
   * Where the records of `traceId`'s closed hops begin (`first`) or end, -1
   * when none is known: from the closed-trace table, or, for a trace whose
   * trigger waits for the policy (not in the table until let go of), from
   * its own closed roots.
   */
  private _closedHops(traceId: string, first: boolean): number {
    const seq = first ? this._closed.firstSeq(traceId) : this._closed.lastSeq(traceId);
    if (seq >= 0) return seq;
    const held = this._waiting.deferred(traceId)?.closed;
    return held === undefined ? -1 : first ? held.firstSeq : held.lastSeq;
  }

  /**
   * Whether the ring holds a record of `traceId` a trace flush would take:
   * in O(1) for a closed trace (its first or newest record live, from the
   * closed-trace table; the newest is the last to age out), so a trigger
   * the budget then refuses costs no scan.
   */
  private _reachable(traceId: string): boolean {
    const ring = this._ring;
    const live = (s: number): boolean => ring.isLive(s);
    if (this._open.get(traceId)?.seqs.some(live) === true) return true;
    if (this._waiting.deferred(traceId)?.records().some(live) === true) return true;
    const at = this._closed.find(traceId);
    return (
      at >= 0 && (ring.isLive(this._closed.lastAt(at)) || ring.isLive(this._closed.firstAt(at)))
    );
  }

  /** Sends the live records of `seqs` as late spans of the flush `mark`. */
  private _followLate(seqs: readonly number[], mark: FlushMark): void {
    const exports = this._exports;
    if (exports === undefined) return;
    const ring = this._ring;
    for (const seq of seqs) {
      if (!ring.isLive(seq)) continue;
      this._counters.spansLate++;
      exports.pushLate(ring, seq, mark);
      ring.remove(seq);
    }
    exports.schedule(LATE_EXPORT_DELAY_MS);
  }

  /**
   * The live records of `traceId`: its open roots' and, for a closed trace
   * whose records start at `firstSeq`, those found from there on; undefined
   * when there are none and no local root of it is open.
   */
  private _heldRecords(traceId: string, firstSeq: number | undefined): number[] | undefined {
    if (this._off) return undefined;
    const ring = this._ring;
    const from = firstSeq ?? this._closed.firstSeq(traceId);
    const records = from < 0 ? [] : traceRecords(ring, traceId, from);
    const open = this._open.get(traceId);
    if (open !== undefined) for (const s of open.seqs) if (ring.isLive(s)) records.push(s);
    return records.length > 0 || open !== undefined ? records : undefined;
  }

  /** Frees the resource and scope pairs no record holds (the table is full); whether it freed any. */
  private _renewPairs(): boolean {
    return this._table.renewFull((use) => {
      const ring = this._ring;
      ring.forEachLive((seq) => use(ring.pairOf(seq)));
      this._exports?.forEachPending((run, slot) => use(run.pair[slot]!));
    });
  }

  /** Records that ended more than `minAgeMs` before `now` go, unless their trace is open. */
  private _evictByAge(now: number): void {
    this._ring.evictOlderThan(now - this._options.minAgeMs);
  }

  private _warnOnce(error: unknown): void {
    if (this._warnedOnEnd) return;
    this._warnedOnEnd = true;
    diag.error(
      `otel-flight-recorder: failed to record a span (further failures are silent): ${error}`,
    );
  }
}

const NO_LOGS: LogStats = {
  bufferedLogs: 0,
  bufferedLogBytes: 0,
  logsRecorded: 0,
  logsEvictedByAge: 0,
  logsEvictedByBytes: 0,
  logsExported: 0,
  logsDropped: 0,
  logsOversize: 0,
  logsAsSpanEvents: 0,
};

/** The newest of `seqs` (sequence numbers), -1 when there are none. */
function lastOf(seqs: readonly number[]): number {
  let last = -1;
  for (const s of seqs) if (s > last) last = s;
  return last;
}

/** What {@link FlightRecorderSpanProcessor._record} returns for a span that threw as it was read. */
const UNREADABLE = -2;

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

/** A span's end time in ms; NaN when the span has none (the recorder's clock then reads the wall clock). */
function endMsOf(span: ReadableSpan): number {
  const t = span.endTime;
  return Array.isArray(t) ? hrTimeToMs(t) : Number.NaN;
}

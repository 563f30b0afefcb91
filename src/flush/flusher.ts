import { context, diag } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Coordinator } from '../coordination/coordinator.js';
import type { ExportPace } from '../export/export-pace.js';
import type { ExportQueue } from '../export/export-queue.js';
import { readLeavingSpan } from '../export/span-decoder.js';
import type { FlightRecorderLogRecordProcessor } from '../logs/flight-recorder-log-record-processor.js';
import { type FlushMark, newSnapshotId, type TriggerEvidence } from '../marks.js';
import type { FlushInfo, ResolvedOptions, SnapshotResult } from '../options.js';
import type { ClosedTraces } from '../record/closed-traces.js';
import type { OpenTraces } from '../record/open-traces.js';
import { LIVE, type RecordRun, RunBuilder } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import type { SpanRing } from '../record/span-ring.js';
import { traceRecords, WantedSpans } from '../record/trace-records.js';
import { countTrigger } from '../trigger/flush-policy.js';
import type { WaitingTriggers } from '../trigger/waiting-triggers.js';
import { collectContributions, type FlushContributor, type LeavingSpan } from './contributors.js';
import type { FlushedTraces } from './flushed-traces.js';

/** The span that triggers a flush, read once by `onEnd`, with its record state. */
export interface TriggerSpan {
  span: ReadableSpan;
  ctx: ReturnType<ReadableSpan['spanContext']>;
  state: number;
}

/** What a flush works with: the recorder's parts, wired by the processor. */
export interface FlusherParts {
  ring: SpanRing;
  table: ResourceScopeTable;
  open: OpenTraces;
  closed: ClosedTraces;
  flushed: FlushedTraces;
  waiting: WaitingTriggers;
  /** Undefined when the recorder is disabled: a flush then only counts its trigger. */
  exports: ExportQueue | undefined;
  pace: ExportPace;
  /** Read at each flush: tests replace the processor's array. */
  contributors(): readonly FlushContributor[];
  counters: { flushes: number; spansEvictedByBytes: number };
  /** Flushes by trigger, as `stats().triggers` reports them. */
  triggers: Record<string, number>;
  options: Pick<ResolvedOptions, 'flushScope' | 'minFlushIntervalMs' | 'onFlush'>;
  /**
   * Encodes a span into the ring (the processor's recording path); its
   * sequence number, -1 when it does not fit, below -1 when reading it threw.
   */
  record(span: ReadableSpan, ctx: TriggerSpan['ctx'], time: number, state: number): number;
  /** The recorder's clock as last moved by an ended span. */
  lastTime(): number;
  coordination(): Coordinator | undefined;
  logs(): FlightRecorderLogRecordProcessor | undefined;
  /** Reports a failure once (the processor's warning for spans it could not record). */
  warn(error: unknown): void;
}

/**
 * Takes records out of the ring and hands them to the export queue under
 * one mark: a trace's own records (in time proportional to them), or the
 * whole window in O(1), with the triggering span encoded after them and
 * what the contributors (runtime events, log lines) add. It remembers what
 * it took, so late spans follow their flush, and tells coordination and
 * `onFlush`. How often the whole window may go (`minFlushIntervalMs`) is
 * kept here too.
 */
export class Flusher {
  private _lastWindowFlush = Number.NEGATIVE_INFINITY;
  /** Set while {@link snapshot} flushes: the run it made, to count its traces afterwards. */
  private _kept: { run: RecordRun | undefined; addedTraces: number } | undefined;
  private _warnedOnFlush = false;

  constructor(private readonly _p: FlusherParts) {}

  /** Whether a window flush may happen at `now`: at most one per `minFlushIntervalMs`. */
  windowDue(now: number): boolean {
    return now - this._lastWindowFlush >= this._p.options.minFlushIntervalMs;
  }

  /**
   * Flushes the whole window for `reason` (a snapshot), and returns the run
   * it made with the traces contributors added, for the caller to count
   * (`result.traces` is -1 when it was not counted here).
   */
  snapshot(
    reason: string,
    now: number,
  ): { result: SnapshotResult; run: RecordRun | undefined; addedTraces: number } {
    const kept = (this._kept = { run: undefined as RecordRun | undefined, addedTraces: 0 });
    try {
      const result = this.flush(reason, now);
      return { result, run: kept.run, addedTraces: kept.addedTraces };
    } finally {
      this._kept = undefined;
    }
  }

  /**
   * Moves records to the export queue under one new mark (or `trigger`'s,
   * when it is a mark: another service's, for coordination): the trace's own,
   * or the whole window when `traceId` is not given or a window flush is due,
   * then `span` (the triggering one) encoded after them. Remembers the
   * flushed trace so its late spans follow. With `evidence`, the triggering
   * span (`span`, or the last of `extra`) goes in a run of its own whose
   * mark carries it.
   */
  flush(
    trigger: string | FlushMark,
    now: number,
    traceId?: string,
    span?: TriggerSpan,
    extra?: readonly number[],
    traceOnly = false,
    evidence?: TriggerEvidence,
  ): SnapshotResult {
    const mark: FlushMark =
      typeof trigger === 'string' ? { snapshotId: newSnapshotId(), trigger } : trigger;
    const rootMark: FlushMark = evidence === undefined ? mark : { ...mark, evidence };
    // A remote flush is counted by coordination, not as a trigger of this service.
    if (mark.remote !== true) {
      countTrigger(this._p.triggers, mark.trigger);
      this._p.counters.flushes++;
    }
    const exports = this._p.exports;
    if (exports === undefined) return { ...mark, spans: 0, traces: 0 };
    const ring = this._p.ring;
    const whole =
      traceId === undefined ||
      (!traceOnly && this._p.options.flushScope === 'window' && this.windowDue(now));
    let run: RecordRun;
    /** The triggering span, after the window (or the trace) when it has a run of its own. */
    let trigger1: RecordRun | undefined;
    const open = traceId === undefined ? undefined : this._p.open.get(traceId);
    if (whole) {
      this._lastWindowFlush = now;
      // The ring itself goes to the export queue, in O(1); the recorder
      // starts a new one. Open traces' later spans follow this flush.
      const from = ring.headSeq;
      const unaged = ring.unagedSeq;
      run = ring.detach(mark);
      this._p.flushed.windowTook(mark, from, ring.tailSeq, unaged);
      // The deferred traces' records went with the window, and what of
      // theirs ends later follows it (or the flush that took the trace
      // before, the first to take any), a hop of one open now too.
      for (const id of this._p.waiting.windowFlushed()) {
        const hop = this._p.open.get(id);
        const first = this._p.flushed.lateMark(id, hop) ?? mark;
        this._p.flushed.set(id, first);
        if (hop !== undefined) hop.mark = first;
      }
      const seq = span === undefined ? -1 : this._recordTrigger(span, now);
      if (seq >= 0) {
        const own = new RunBuilder(1024, 1);
        ring.copyInto(own, seq);
        ring.remove(seq);
        trigger1 = own.build(rootMark, ring.dicts);
      }
    } else {
      // The intern tables the trace's records were written against: recording
      // the triggering span may start a lap, which renews one of them.
      const dicts = ring.dicts;
      // Proportional to the trace's own spans: its records are listed.
      const builder = new RunBuilder(4096, 16);
      const take = (s: number): void => {
        if (!ring.isLive(s)) return;
        ring.copyInto(builder, s);
        ring.remove(s);
      };
      // A deferred trigger's own record is the last of `extra` (see DeferredTrace.records).
      const own = evidence !== undefined && extra !== undefined ? extra[extra.length - 1] : -1;
      let ownRun: RunBuilder | undefined;
      if (own !== undefined && own >= 0 && ring.isLive(own)) {
        ownRun = new RunBuilder(1024, 1);
        ring.copyInto(ownRun, own);
        ring.remove(own);
      }
      // What the trace's local roots that closed already left: a child that
      // ends (and triggers) after its root, a second hop of the trace.
      const closedFrom = this._p.closed.firstSeq(traceId!);
      if (closedFrom >= 0) for (const s of traceRecords(ring, traceId!, closedFrom)) take(s);
      if (open !== undefined) for (const s of open.seqs) take(s);
      if (extra !== undefined) for (const s of extra) take(s);
      const seq = span === undefined ? -1 : this._recordTrigger(span, now);
      if (seq >= 0) {
        // With evidence, or written against tables the records above were
        // not, it goes in a run of its own (a trigger with evidence has no
        // `extra`, so no `own` record shares that run).
        const target =
          evidence === undefined && ring.dicts === dicts
            ? builder
            : (ownRun = new RunBuilder(1024, 1));
        ring.copyInto(target, seq);
        ring.remove(seq);
      }
      run = builder.build(mark, dicts);
      if (ownRun !== undefined) trigger1 = ownRun.build(rootMark, ring.dicts);
    }
    if (traceId !== undefined) {
      // The flush is the triggering trace's own, window or not: a copy of a
      // window flush's mark (the same marks) is not recognized as a window
      // flush's, so a later trigger of the trace follows it, spending
      // nothing, as after a trace flush.
      const own = whole ? { ...mark } : mark;
      if (open !== undefined) open.mark = own;
      this._p.flushed.set(traceId, own);
    }
    const contributed =
      this._p.contributors().length > 0
        ? this._contribute(run, trigger1, mark, whole ? 'window' : 'trace', traceId)
        : undefined;
    // One unit at the queue's byte bound: the flush's own parts never push each other out.
    exports.enqueue(contributed?.run, run, trigger1);
    // Local trace flushes close together share export calls, as
    // BatchSpanProcessor's spans do; a window or a remote flush goes at once.
    exports.schedule(!whole && mark.remote !== true ? this._p.pace.delay(now) : 0);
    const added = contributed ?? NOTHING_ADDED;
    const spans = run.length + (trigger1?.length ?? 0) + added.spans;
    if (this._kept !== undefined) {
      this._kept.run = run;
      this._kept.addedTraces = added.traces;
    }
    // Every local trigger the policy let through is told to the other services.
    if (traceId !== undefined && mark.remote !== true) {
      this._p.coordination()?.published(traceId, mark, span?.span);
    }
    // Counting traces reads every record: only when someone is told now.
    if (this._p.options.onFlush === undefined) return { ...mark, spans, traces: -1 };
    const traces =
      (whole
        ? run.distinctTraces() + (trigger1 !== undefined && !hasTrace(run, traceId) ? 1 : 0)
        : 1) + added.traces;
    const result = { ...mark, spans, traces };
    const logs = this._p.logs()?._takenBy(mark.snapshotId) ?? 0;
    this._notify({ ...result, traceId, scope: whole ? 'window' : 'trace', logs });
    return result;
  }

  /**
   * Encodes the triggering span of a flush into the ring; returns its
   * sequence number, or -1 when it could not be recorded (counted).
   */
  private _recordTrigger(span: TriggerSpan, time: number): number {
    // A span whose attributes throw as they are read is lost alone, not the
    // window or the trace already taken out for this flush.
    const seq = this._p.record(span.span, span.ctx, time, span.state);
    if (seq === -1) this._p.counters.spansEvictedByBytes++;
    return seq < 0 ? -1 : seq;
  }

  /**
   * Asks the contributors for spans to add to the flush that made `run`
   * (then the triggering span's own run of a window flush, `trigger1`);
   * returns the records of the spans they add, to enqueue with the flush.
   */
  private _contribute(
    run: RecordRun,
    trigger1: RecordRun | undefined,
    mark: FlushMark,
    scope: 'trace' | 'window',
    traceId: string | undefined,
  ): { run: RecordRun; spans: number; traces: number } | undefined {
    // The window, then the triggering span of a window flush (its own run).
    const runs = trigger1 === undefined ? [run] : [run, trigger1];
    const table = this._p.table;
    /** Every span leaving, read when first asked. */
    let all: LeavingSpan[] | undefined;
    const spans = collectContributions(this._p.contributors(), {
      scope,
      trigger: mark.trigger,
      traceId,
      snapshotId: mark.snapshotId,
      remote: mark.remote,
      get spans() {
        return (all ??= leavingSpans(runs, table, undefined));
      },
      spansOfTrace: (id) => leavingSpans(runs, table, id),
      ...firstLeaving(runs, table),
      appendToSpans: (fields) => {
        const found = new Set<string>();
        const wanted = new WantedSpans(fields);
        for (const run of runs) {
          wanted.forEachIn(run, (slot, bytes, key) => {
            found.add(key);
            appendFields(run, slot, bytes);
          });
        }
        return found;
      },
    });
    if (spans.length === 0) return undefined;
    const ring = this._p.ring;
    const builder = new RunBuilder(4096, spans.length);
    // A contributed span with no parent starts a trace of its own (the runtime track).
    let ownTraces = 0;
    for (const span of spans) {
      try {
        const seq = this._p.record(span, span.spanContext(), this._p.lastTime(), 0);
        if (seq < 0) continue;
        if (span.parentSpanContext === undefined) ownTraces++;
        ring.copyInto(builder, seq);
        ring.remove(seq);
      } catch (error) {
        this._p.warn(error);
      }
    }
    const run1 = builder.build(mark, ring.dicts);
    return { run: run1, spans: run1.length, traces: ownTraces };
  }

  private _notify(flush: FlushInfo): void {
    try {
      // As an export: what the callback does (an alert over HTTP) makes no
      // spans, which would be recorded, and might trigger flushes of their own.
      context.with(suppressTracing(context.active()), () => this._p.options.onFlush?.(flush));
    } catch (error) {
      if (this._warnedOnFlush) return;
      this._warnedOnFlush = true;
      diag.warn(`otel-flight-recorder: onFlush threw (further errors are silent): ${error}`);
    }
  }
}

/**
 * The live records of `runs` as contributors see them; with `traceId`, only
 * that trace's, matched on the record's id bytes before anything is decoded.
 */
function leavingSpans(
  runs: readonly RecordRun[],
  table: ResourceScopeTable,
  traceId: string | undefined,
): LeavingSpan[] {
  const id = traceId === undefined ? undefined : Buffer.from(traceId, 'hex');
  const spans: LeavingSpan[] = [];
  for (const run of runs) {
    for (let k = 0; k < run.entries; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      if (id !== undefined && !ofTrace(run, slot, id)) continue;
      spans.push(readLeavingSpan(run, slot, table.resource(run.pair[slot]!)));
    }
  }
  return spans;
}

/**
 * The resource and start of the first live record of `runs`: of a window,
 * the span that ended first (records are held in the order spans ended).
 */
function firstLeaving(
  runs: readonly RecordRun[],
  table: ResourceScopeTable,
): { resource: ReadableSpan['resource']; oldestStartMs: number } | undefined {
  for (const run of runs) {
    for (let k = 0; k < run.entries; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      const resource = table.resource(run.pair[slot]!);
      return { resource, oldestStartMs: readLeavingSpan(run, slot, resource).startMs };
    }
  }
  return undefined;
}

/** What a flush with no contributions adds. */
const NOTHING_ADDED = { spans: 0, traces: 0 };

/**
 * Whether a record of `run` belongs to the trace `traceId` (hex), matched on
 * the id bytes of its first field. From the newest: a window flush's
 * triggering trace mostly ended last.
 */
function hasTrace(run: RecordRun, traceId: unknown): boolean {
  // A span's context can hold anything: the encoder takes a non-string id as ''.
  if (typeof traceId !== 'string') return false;
  const id = Buffer.from(traceId, 'hex');
  if (id.length !== 16) return false;
  for (let k = run.entries - 1; k >= 0; k--) {
    const slot = run.slot(k);
    if ((run.state[slot]! & LIVE) !== 0 && ofTrace(run, slot, id)) return true;
  }
  return false;
}

/** Appends encoded Span fields after the record in `slot` of `run` (after any it has). */
function appendFields(run: RecordRun, slot: number, fields: Uint8Array): void {
  const extra = (run.extra ??= new Map());
  const had = extra.get(slot);
  if (had === undefined) {
    extra.set(slot, fields);
    return;
  }
  const both = new Uint8Array(had.length + fields.length);
  both.set(had);
  both.set(fields, had.length);
  extra.set(slot, both);
}

/** Whether the record in `slot` belongs to the trace whose id bytes are `id` (16 of them, or none match). */
function ofTrace(run: RecordRun, slot: number, id: Uint8Array): boolean {
  if (id.length !== 16) return false;
  // A record starts with its trace id: tag, length 16, the 16 bytes.
  const buf = run.buf;
  const at = run.off[slot]! + 2;
  for (let b = 0; b < 16; b++) if (buf[at + b] !== id[b]) return false;
  return true;
}

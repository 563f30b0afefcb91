import type { OpenTrace, OpenTraces } from '../record/open-traces.js';
import type { SpanRing } from '../record/span-ring.js';

/** How many root triggers ({@link WaitingTriggers.atRootEnd}) are remembered; the oldest goes first. */
const MAX_ROOT_TRIGGERS = 65_536;
/** How many deferred triggers keep their trace's records in reach. */
const MAX_DEFERRED = 256;
/** Deferred window triggers remembered at most (a stall of `stallTriggerMs` is rare). */
const MAX_DEFERRED_WINDOWS = 16;
/** A deferred trace's records are pruned of dead ones when their list grows past this. */
const DEFERRED_PRUNE_AT = 1024;

/**
 * Triggers that are not flushed yet, by trace id, each bounded (the oldest
 * goes first):
 * - triggers waiting for their trace's local root to end (an error log
 *   inside it), so the whole trace goes in one flush;
 * - traces whose trigger the policy deferred, with what a later flush of
 *   each takes: their records stay pinned until the policy decides;
 * - deferred window triggers (stalls).
 */
export class WaitingTriggers {
  private readonly _rootEnd = new Map<string, string>();
  private readonly _deferred = new Map<string, DeferredTrace>();
  private readonly _windows = new Map<string, string>();

  constructor(
    private readonly _open: OpenTraces,
    private readonly _ring: SpanRing,
  ) {}

  /** Makes the local root of `traceId` trigger `reason` when it ends (the first such reason). */
  atRootEnd(traceId: string, reason: string): void {
    const triggers = this._rootEnd;
    if (!triggers.has(traceId)) triggers.set(traceId, reason);
    if (triggers.size > MAX_ROOT_TRIGGERS) triggers.delete(triggers.keys().next().value as string);
  }

  /** The reason a local root of `traceId` triggers: its own (`own`), else one waiting for it. */
  rootTrigger(traceId: string, own: string | undefined): string | undefined {
    if (this._rootEnd.size === 0) return own;
    const waiting = this._rootEnd.get(traceId);
    if (waiting === undefined) return own;
    this._rootEnd.delete(traceId);
    return own ?? waiting;
  }

  /** The deferred trace `traceId`, if its trigger is deferred (no lookup while none is: the hot path asks). */
  deferred(traceId: string): DeferredTrace | undefined {
    return this._deferred.size > 0 ? this._deferred.get(traceId) : undefined;
  }

  /**
   * Keeps a trace whose trigger was deferred in reach of the policy's host:
   * its records stay pinned, and the spans that end until the policy
   * decides join it, even after its local root ended. O(1): the trace's
   * records are read when it is flushed. `seq` is the trigger's own record
   * (-1 when it was not recorded).
   */
  defer(traceId: string, seq: number, reason: string): void {
    const had = this._deferred.get(traceId);
    // With no local root of the trace open, nothing else pins the record.
    const closed = this._open.get(traceId) === undefined;
    if (had !== undefined) {
      // Another trigger of the same trace: one more candidate.
      had.candidates++;
      had.trigger(reason, seq);
      if (closed) this.add(had, seq);
      return;
    }
    const trace = new DeferredTrace(reason, seq);
    this._deferred.set(traceId, trace);
    if (closed) this.add(trace, seq);
    if (this._deferred.size > MAX_DEFERRED) {
      this.forget(this._deferred.keys().next().value as string);
    }
  }

  /**
   * One deferred trigger of `traceId` will not be flushed; once none of the
   * trace's is left, it is let go of.
   */
  dropCandidate(traceId: string): void {
    const deferred = this._deferred.get(traceId);
    if (deferred !== undefined && --deferred.candidates <= 0) this.forget(traceId);
  }

  /** Lets go of a deferred trace: its records no longer pinned (those past `minAgeMs` go). */
  forget(traceId: string): void {
    const trace = this._deferred.get(traceId);
    if (trace === undefined) return;
    this._deferred.delete(traceId);
    if (trace.closed !== undefined) this._open.release(trace.closed);
    this._open.unpin(trace.pinned);
  }

  /**
   * A record of the deferred trace `trace` that ended while no local root of
   * it was open: it joins the trace, pinned until the policy decides (a
   * `minAgeMs` shorter than the policy's interval must not age it out).
   */
  add(trace: DeferredTrace, seq: number): void {
    if (seq < 0) return;
    trace.add(seq, this._ring);
    this._open.pin(seq);
  }

  /**
   * A window flush took every record: the deferred traces' went with it.
   * Returns their ids, for their spans that end later to follow that flush.
   */
  windowFlushed(): string[] {
    const ids = [...this._deferred.keys()];
    this._deferred.clear();
    return ids;
  }

  /** A deferred window trigger (a stall), for `reason`, by its trigger span's trace id. */
  deferWindow(traceId: string, reason: string): void {
    const windows = this._windows;
    windows.set(traceId, reason);
    if (windows.size > MAX_DEFERRED_WINDOWS) {
      windows.delete(windows.keys().next().value as string);
    }
  }

  /** The reason of the deferred window trigger of `traceId`, taken; undefined when there is none. */
  takeWindow(traceId: string): string | undefined {
    const reason = this._windows.get(traceId);
    if (reason !== undefined) this._windows.delete(traceId);
    return reason;
  }

  clear(): void {
    this._rootEnd.clear();
    this._deferred.clear();
    this._windows.clear();
  }
}

/**
 * A trace whose trigger the policy deferred: what a later flush of it takes,
 * besides the records its open local roots list.
 */
export class DeferredTrace {
  /** The trace as it was open, its records still pinned, once its last local root ended (each time it did). */
  closed: OpenTrace | undefined = undefined;
  /** Its records that ended after its last local root did. */
  private _seqs: number[] = [];
  /** The policy's candidates for it: it is let go of when none is left. */
  candidates = 1;
  /** Each trigger's own record, by reason (the first of each; -1 when it was not recorded). */
  private readonly _triggers = new Map<string, number>();

  constructor(reason: string, seq: number) {
    this._triggers.set(reason, seq);
  }

  /** Another trigger of the trace, for `reason`; its record `seq`. */
  trigger(reason: string, seq: number): void {
    if (!this._triggers.has(reason)) this._triggers.set(reason, seq);
  }

  /**
   * A local root of the trace ended and closed it, its records pinned: they
   * wait for the policy with the others. A trace served twice here in turn
   * (two requests of one trace) closes twice.
   */
  closedRoot(open: OpenTrace): void {
    if (this.closed === undefined) {
      this.closed = open;
      return;
    }
    const seqs = this.closed.seqs;
    for (const s of open.seqs) seqs.push(s);
    this.closed.lastSeq = Math.max(this.closed.lastSeq, open.lastSeq);
  }

  /** Its records pinned while no local root of it was open ({@link WaitingTriggers.add}). */
  get pinned(): readonly number[] {
    return this._seqs;
  }

  add(seq: number, ring: SpanRing): void {
    if (seq < 0) return;
    const seqs = this._seqs;
    seqs.push(seq);
    if (seqs.length % DEFERRED_PRUNE_AT === 0) this._seqs = seqs.filter((s) => ring.isLive(s));
  }

  /**
   * Its records (some may be gone, some listed twice), last the record of
   * the trigger for `reason` (the one the policy flushes it for, which gets
   * the evidence), as a trace flush takes its `extra` records.
   */
  records(reason?: string): number[] {
    const out = this.closed === undefined ? [] : this.closed.seqs.slice();
    for (const s of this._seqs) out.push(s);
    for (const s of this._triggers.values()) out.push(s);
    const own = reason === undefined ? undefined : this._triggers.get(reason);
    out.push(own ?? this._triggers.values().next().value!);
    return out;
  }
}

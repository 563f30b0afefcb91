import type { FlushMark } from '../marks.js';
import { OPEN, PINNED } from './record-run.js';
import type { SpanRing } from './span-ring.js';

/** How many traces with open local roots are tracked; the oldest goes first. */
export const MAX_OPEN_TRACES = 65_536;
/** A trace's list of records is pruned of dead ones when it grows past this. */
const PRUNE_AT = 1024;

/** A trace with a local root open in this process. */
export interface OpenTrace {
  /** Local roots of the trace that have started and not ended. */
  roots: number;
  /** Sequence numbers of its records (some may be gone from the ring). */
  seqs: number[];
  /** The first record's sequence number, -1 before any. */
  firstSeq: number;
  /** The last record's sequence number, -1 before any. */
  lastSeq: number;
  /**
   * Where the records of the trace's hops that closed here before this one
   * started (a second call from upstream) end, -1 when none did or the root
   * has no remote parent: a window flush that took those takes this hop's
   * spans too.
   */
  closedLast: number;
  /** The flush that took this trace's spans, so the next ones follow it. */
  mark: FlushMark | undefined;
}

/**
 * The traces whose local root is open, and their records in the ring: what
 * pins records past `minAgeMs` (their state has OPEN) and what a
 * trace-scope flush takes, in time proportional to the trace's own spans.
 *
 * Bounded: at most {@link MAX_OPEN_TRACES} traces; roots that never end are
 * forgotten oldest first, and their records unpinned.
 */
export class OpenTraces {
  private readonly _traces = new Map<string, OpenTrace>();

  constructor(
    private readonly _ring: SpanRing,
    private readonly _counters: { spansEvictedByAge: number },
  ) {}

  get size(): number {
    return this._traces.size;
  }

  get(traceId: string): OpenTrace | undefined {
    return this._traces.get(traceId);
  }

  /**
   * A local root of the trace started. `mark` is the flush that took the
   * trace already, if one did: a trace that enters again (a retry, another
   * call from upstream) follows it. `closedLast`: where its closed hops'
   * records end, -1 when none is known.
   */
  start(traceId: string, mark?: FlushMark, closedLast = -1): void {
    const open = this._traces.get(traceId);
    if (open !== undefined) {
      open.roots++;
      return;
    }
    this._traces.set(traceId, {
      roots: 1,
      seqs: [],
      firstSeq: -1,
      lastSeq: -1,
      closedLast,
      mark,
    });
    if (this._traces.size > MAX_OPEN_TRACES) {
      const [oldest, trace] = this._traces.entries().next().value as [string, OpenTrace];
      this._traces.delete(oldest);
      this.release(trace);
    }
  }

  /** Adds a record of an open trace. */
  add(open: OpenTrace, seq: number): void {
    if (open.firstSeq < 0) open.firstSeq = seq;
    open.lastSeq = seq;
    const seqs = open.seqs;
    seqs.push(seq);
    if (seqs.length >= PRUNE_AT && seqs.length % PRUNE_AT === 0) {
      const ring = this._ring;
      open.seqs = seqs.filter((s) => ring.isLive(s));
    }
  }

  /**
   * A local root ended; returns the trace when that closed it (its last open
   * root). With `release` false its records stay pinned until the caller
   * {@link release}s them (a trace whose trigger waits for the policy).
   */
  close(traceId: string, release = true): OpenTrace | undefined {
    const open = this._traces.get(traceId);
    if (open === undefined || --open.roots > 0) return undefined;
    this._traces.delete(traceId);
    if (release) this.release(open);
    return open;
  }

  /** Its records are no longer pinned: those already past `minAgeMs` go now. */
  release(open: OpenTrace): void {
    this.unpin(open.seqs);
    open.seqs = [];
  }

  /** Pins a record of a closed trace (one whose trigger waits for the policy) as an open trace's are. */
  pin(seq: number): void {
    const state = this._ring.stateOf(seq);
    if (state !== 0) this._ring.setState(seq, state | OPEN);
  }

  /** Unpins records: those already past `minAgeMs` go now. */
  unpin(seqs: readonly number[]): void {
    const ring = this._ring;
    for (const seq of seqs) {
      const state = ring.stateOf(seq);
      if (state === 0) continue;
      if ((state & PINNED) !== 0) {
        ring.remove(seq);
        this._counters.spansEvictedByAge++;
      } else ring.setState(seq, state & ~OPEN);
    }
  }

  clear(): void {
    this._traces.clear();
  }
}

import type { FlushMark } from '../marks.js';
import type { ClosedTraces } from '../record/closed-traces.js';
import type { OpenTrace } from '../record/open-traces.js';

/** How many flushed trace ids are remembered so their late spans follow them. */
export const MAX_FLUSHED_TRACES = 16_384;
/** How many window flushes are remembered, for traces open across several. */
export const MAX_WINDOW_FLUSHES = 16;

/**
 * Traces already flushed, with the flush that took them, so a span of
 * theirs that ends later (a late span) goes straight out under the same
 * marks. Bounded: the oldest remembered goes first. A flush adds one entry
 * (the triggering trace) and a closing root one more (a trace a window flush
 * took while open): never a walk over the window. Of window flushes, the last
 * {@link MAX_WINDOW_FLUSHES} marks are remembered with the sequence numbers
 * of the records they took (a trace open across several follows the first
 * that took its records; a trace whose local roots had all closed, found in
 * the closed traces, the one its newest record was live in), and every
 * one's mark is recognized as a window flush's (held weakly).
 */
export class FlushedTraces {
  private readonly _marks = new Map<string, FlushMark>();
  /** The marks of window flushes (a trace a window flush took part of may still trigger). */
  private readonly _windowMarks = new WeakSet<FlushMark>();
  /**
   * The last window flushes, oldest first: the live records from `from` to
   * before `seq` left with its mark; those of closed traces from `unaged`
   * on (the ones before it had aged out).
   */
  private readonly _windows: { mark: FlushMark; from: number; unaged: number; seq: number }[] = [];

  /** `closed`: where recently closed traces' records begin, to tell whether a window flush took them. */
  constructor(private readonly _closed?: ClosedTraces) {}

  set(traceId: string, mark: FlushMark): void {
    this._marks.delete(traceId);
    this._marks.set(traceId, mark);
    if (this._marks.size > MAX_FLUSHED_TRACES) {
      this._marks.delete(this._marks.keys().next().value as string);
    }
  }

  /** Whether any flush is remembered (before the first, a late span needs no lookup). */
  get any(): boolean {
    return this._marks.size > 0 || this._windows.length > 0;
  }

  /**
   * A window flush with `mark` took every live record from `from` to before
   * `seq`; records of closed traces before `unaged` had aged out.
   */
  windowTook(mark: FlushMark, from: number, seq: number, unaged = from): void {
    this._windowMarks.add(mark);
    const windows = this._windows;
    windows.push({ mark, from, unaged: Math.max(from, unaged), seq });
    if (windows.length > MAX_WINDOW_FLUSHES) windows.shift();
  }

  /**
   * The flush an ended span of `traceId` must follow, if its trace was
   * flushed; `open` is the trace while a local root of it is open here.
   */
  lateMark(traceId: string, open: OpenTrace | undefined): FlushMark | undefined {
    if (open !== undefined) {
      if (open.mark !== undefined) return open.mark;
      const windows = this._windows;
      const n = windows.length;
      if (n === 0) return undefined;
      const last = windows[n - 1]!.seq;
      // The first window flush that took any of the trace, kept on it (the
      // window may be forgotten before its next span). (Most open traces
      // began after the last one: two compares on the hot path.)
      // First the hops of the trace that had closed when this one began:
      // older than its own records.
      if (open.closedLast >= 0 && open.closedLast < last) {
        const mark = this._windowOf(open.closedLast);
        if (mark !== undefined) return (open.mark = mark);
      }
      // Then the records it had when a window flush went.
      if (open.firstSeq >= 0 && open.firstSeq < last) {
        // Before every window remembered, once some were forgotten: the one
        // that took it is not known.
        if (n === MAX_WINDOW_FLUSHES && open.firstSeq < windows[0]!.from) return undefined;
        for (const w of windows) if (open.firstSeq < w.seq) return (open.mark = w.mark);
      }
      return undefined;
    }
    const mark = this._marks.size === 0 ? undefined : this._marks.get(traceId);
    if (mark !== undefined || this._windows.length === 0 || this._closed === undefined) {
      return mark;
    }
    // Its local roots had all closed when a window flush took its records.
    return this._windowOf(this._closed.lastSeq(traceId));
  }

  /**
   * The flush for a hop of `traceId` that starts now: the flush that took the
   * trace, if one did. `closedLast` is where its closed hops' records end
   * (-1 when none is known).
   */
  startMark(traceId: string, closedLast: number): FlushMark | undefined {
    const mark = this._marks.size === 0 ? undefined : this._marks.get(traceId);
    return mark ?? this._windowOf(closedLast);
  }

  /**
   * The window flush that took the closed trace whose records end at `last`
   * (-1: none known), if one did: the one whose window that record was live
   * in (a trace's last record is its newest, the last to age out; one
   * recorded after a window flush means that flush did not take the trace,
   * or its later spans would have followed it instead).
   */
  private _windowOf(last: number): FlushMark | undefined {
    if (last < 0) return undefined;
    for (const w of this._windows) if (last >= w.unaged && last < w.seq) return w.mark;
    return undefined;
  }

  /** The mark of the trace flush that took `traceId` already, if one did (not a window flush). */
  traceMark(traceId: string, open: OpenTrace | undefined): FlushMark | undefined {
    const mark = this.lateMark(traceId, open);
    return mark === undefined || this.isWindow(mark) ? undefined : mark;
  }

  /** Whether `mark` is a window flush's (not the trace's own). */
  isWindow(mark: FlushMark): boolean {
    return this._windowMarks.has(mark);
  }

  /** Forgets every flushed trace and the last window flush. */
  clear(): void {
    this._marks.clear();
    this._windows.length = 0;
  }
}

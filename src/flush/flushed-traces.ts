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
 * the closed traces, the one that took its first record), and every one's
 * mark is recognized as a window flush's (held weakly).
 */
export class FlushedTraces {
  private readonly _marks = new Map<string, FlushMark>();
  /** The marks of window flushes (a trace a window flush took part of may still trigger). */
  private readonly _windowMarks = new WeakSet<FlushMark>();
  /** The last window flushes, oldest first: the live records from `from` to before `seq` left with its mark. */
  private readonly _windows: { mark: FlushMark; from: number; seq: number }[] = [];

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

  /** A window flush with `mark` took every live record from `from` to before `seq`. */
  windowTook(mark: FlushMark, from: number, seq: number): void {
    this._windowMarks.add(mark);
    const windows = this._windows;
    windows.push({ mark, from, seq });
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
      // A window flush took the records it had then: the first that took any.
      // (Most open traces began after the last one: two compares on the hot path.)
      if (open.firstSeq >= 0 && open.firstSeq < last) {
        for (const w of windows) if (open.firstSeq < w.seq) return w.mark;
      }
      // Or it took the hops of the trace that had closed when this one began.
      return open.closedFirst >= 0 && open.closedFirst < last
        ? this._windowOf(open.closedFirst)
        : undefined;
    }
    const mark = this._marks.size === 0 ? undefined : this._marks.get(traceId);
    if (mark !== undefined || this._windows.length === 0 || this._closed === undefined) {
      return mark;
    }
    // Its local roots had all closed when a window flush took its records.
    return this._windowOf(this._closed.firstSeq(traceId));
  }

  /**
   * The flush for a hop of `traceId` that starts now: the flush that took the
   * trace, if one did. `closedFirst` is where its closed hops' records begin
   * (-1 when none is known).
   */
  startMark(traceId: string, closedFirst: number): FlushMark | undefined {
    const mark = this._marks.size === 0 ? undefined : this._marks.get(traceId);
    return mark ?? this._windowOf(closedFirst);
  }

  /** The window flush that took the closed trace whose records began at `first`, if one did. */
  private _windowOf(first: number): FlushMark | undefined {
    if (first < 0) return undefined;
    for (const w of this._windows) if (first >= w.from && first < w.seq) return w.mark;
    return undefined;
  }

  /** The mark of the trace flush that took `traceId` already, if one did (not a window flush). */
  traceMark(traceId: string, open: OpenTrace | undefined): FlushMark | undefined {
    const mark = this.lateMark(traceId, open);
    return mark === undefined || this._windowMarks.has(mark) ? undefined : mark;
  }

  /** Forgets every flushed trace and the last window flush. */
  clear(): void {
    this._marks.clear();
    this._windows.length = 0;
  }
}

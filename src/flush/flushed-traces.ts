import type { FlushMark } from '../marks.js';

/** How many flushed trace ids are remembered so their late spans follow them. */
export const MAX_FLUSHED_TRACES = 16_384;

/**
 * Traces already flushed, with the flush that took them, so a span of
 * theirs that ends later (a late span) goes straight out under the same
 * marks. Bounded: the oldest remembered goes first. A flush adds one entry
 * (the triggering trace) and a closing root one more (a trace a window flush
 * took while open): never a walk over the window.
 */
export class FlushedTraces {
  private readonly _marks = new Map<string, FlushMark>();

  get size(): number {
    return this._marks.size;
  }

  get(traceId: string): FlushMark | undefined {
    return this._marks.get(traceId);
  }

  set(traceId: string, mark: FlushMark): void {
    this._marks.delete(traceId);
    this._marks.set(traceId, mark);
    if (this._marks.size > MAX_FLUSHED_TRACES) {
      this._marks.delete(this._marks.keys().next().value as string);
    }
  }

  clear(): void {
    this._marks.clear();
  }
}

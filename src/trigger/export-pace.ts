/**
 * The pace of the trace flushes a storm defers: at most one export call per
 * `intervalMs` (plus the calls full batches make), so they share calls as
 * BatchSpanProcessor's spans do, and none waits longer than
 * BatchSpanProcessor's own `scheduledDelayMillis`.
 *
 * - A flush exported at once (a trigger within the budget) starts an
 *   interval: the deferred flushes after it wait for the call due one
 *   interval later.
 * - A deferred flush after a quiet interval goes at once; otherwise it joins
 *   the next call, due one interval after the previous one.
 *
 * Time is the recorder's clock in ms, passed in. O(1), no allocation.
 */
export class ExportPace {
  /** When the last call went (or the pending one goes), in ms. */
  private _at = Number.NEGATIVE_INFINITY;

  /** @param intervalMs The least time between two paced calls, in ms. */
  constructor(readonly intervalMs: number) {}

  /**
   * How long a trace flush made at `now` waits for its export call, in ms;
   * 0 when `deferred` is false (it goes at once, and what is queued with it).
   */
  delay(now: number, deferred: boolean): number {
    if (!deferred) {
      this._at = now;
      return 0;
    }
    // Joins the call pending (or going in this same instant).
    if (now <= this._at) return Math.min(this._at - now, this.intervalMs);
    if (now >= this._at + this.intervalMs) {
      this._at = now;
      return 0;
    }
    this._at += this.intervalMs;
    return this._at - now;
  }
}

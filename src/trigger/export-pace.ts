/**
 * The pace of trace-flush exports: at most one export call per
 * `intervalMs` (plus the calls full batches make), so trace flushes close
 * together share calls as BatchSpanProcessor's spans do, and none waits
 * longer than BatchSpanProcessor's own `scheduledDelayMillis`.
 *
 * - After a quiet spell (no paced call in the last `intervalMs`), a flush
 *   is exported at once: an isolated trigger reaches the backend with no
 *   delay, in the one call BatchSpanProcessor would also make for it.
 * - Otherwise it joins the next call, due `intervalMs` after the previous
 *   one: a storm makes one call per interval however many traces it flushes.
 *
 * Time is the recorder's clock in ms, passed in. O(1), no allocation.
 */
export class ExportPace {
  /** When the last paced call went (or the pending one goes), in ms. */
  private _at = Number.NEGATIVE_INFINITY;

  /** @param intervalMs The least time between two paced calls, in ms. */
  constructor(readonly intervalMs: number) {}

  /** How long a trace flush made at `now` waits for its export call, in ms. */
  delay(now: number): number {
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

/**
 * The least time between two export calls of trace flushes, in ms:
 * BatchSpanProcessor's default `scheduledDelayMillis`, so the same spans
 * make no more calls than it would and wait no longer than its spans do.
 */
export const EXPORT_INTERVAL_MS = 5_000;

/**
 * The pace of local trace flushes' export calls: at most one per
 * `intervalMs` (plus the calls full batches make), so flushes close together
 * share calls as BatchSpanProcessor's spans do, and none waits longer than
 * BatchSpanProcessor's own `scheduledDelayMillis`.
 *
 * - A flush after a quiet interval (no call in the last `intervalMs`) goes
 *   at once: the first failing request of a quiet service is seen at once.
 * - Any other joins the next call, due one interval after the previous one:
 *   a service with 5 errors a second makes one call per interval, not 5 a
 *   second, and a storm's deferred flushes share the same calls.
 *
 * Time is the recorder's clock in ms, passed in. O(1), no allocation.
 */
export class ExportPace {
  /** When the last call went (or the pending one goes), in ms. */
  private _at = Number.NEGATIVE_INFINITY;

  /** @param intervalMs The least time between two paced calls, in ms. */
  constructor(readonly intervalMs: number) {}

  /** How long a trace flush made at `now` waits for its export call, in ms; 0 for at once. */
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

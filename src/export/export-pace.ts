/**
 * The pace of local trace flushes' export calls, as BatchSpanProcessor
 * paces its spans: a flush starts a wait of `delayMs`, and every flush made
 * during that wait joins the same call (a full batch goes sooner: the export
 * queue sends it at once). So the same spans make no more calls than
 * BatchSpanProcessor would, and none waits longer than its
 * `scheduledDelayMillis` would make it.
 *
 * - A service with 5 errors a second makes one call per `delayMs`, not 5 a
 *   second, and a storm's deferred flushes share the same calls.
 * - `delayMs` 0 exports each flush at once, in its own call.
 *
 * Time is the recorder's clock in ms, passed in. O(1), no allocation.
 */
export class ExportPace {
  /** When the pending call goes, in ms; none is pending once it has passed. */
  private _at = Number.NEGATIVE_INFINITY;

  /** @param delayMs The longest a flush waits for its export call, in ms. */
  constructor(readonly delayMs: number) {}

  /** How long until the pending call goes, in ms; -1 when none is pending. */
  pending(now: number): number {
    return now < this._at ? Math.min(this._at - now, this.delayMs) : -1;
  }

  /** How long a trace flush made at `now` waits for its export call, in ms; 0 for at once. */
  delay(now: number): number {
    // Joins the call pending. A clock that steps back waits `delayMs` at most.
    const pending = this.pending(now);
    if (pending >= 0) return pending;
    this._at = now + this.delayMs;
    return this.delayMs;
  }
}

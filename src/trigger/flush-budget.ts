/**
 * The flush budget: a token bucket of trace flushes. It holds at most
 * `burst` tokens and gains `ratePerSecond` a second; a trace flush spends
 * one. Time is the recorder's clock in ms, passed in (never read here), so
 * tests drive it with a fake clock and a clock that steps back refills
 * nothing.
 *
 * Other parts that flush traces on the recorder's behalf (such as a
 * coordinator that publishes or receives keep decisions) take their tokens
 * from the same bucket with {@link tryTake}, so every trace flush of a
 * process counts against one rate.
 */
export class FlushBudget {
  /** Tokens gained per ms. */
  private readonly _perMs: number;
  private _tokens: number;
  private _at: number;

  /**
   * @param ratePerSecond Trace flushes a second, sustained: at least 1.
   * @param burst The most tokens held, so the most flushes in one go.
   * @param now The clock at creation, in ms; the bucket starts full.
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this._perMs = ratePerSecond / 1_000;
    this._tokens = burst;
    this._at = now;
  }

  /** Tokens available at `now` (a fraction while refilling). */
  tokens(now: number): number {
    if (now > this._at) {
      this._tokens = Math.min(this.burst, this._tokens + (now - this._at) * this._perMs);
      this._at = now;
    }
    return this._tokens;
  }

  /** Whether the bucket is full at `now`: no flush has been spent lately. */
  full(now: number): boolean {
    return this.tokens(now) >= this.burst;
  }

  /** Spends one token if one is available at `now`; says whether it did. */
  tryTake(now: number): boolean {
    if (this.tokens(now) < 1) return false;
    this._tokens -= 1;
    return true;
  }
}

/** How many seconds of the rate the bucket holds: the burst is this times the rate. */
export const BURST_SECONDS = 2;

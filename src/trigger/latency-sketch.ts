/**
 * A streaming percentile of durations over a recent window, in fixed memory:
 * a histogram with logarithmic buckets (the DDSketch mapping, without its
 * store growing or collapsing), kept as two halves that take turns.
 *
 * - Error: bucket `k` holds durations in (γ^(k-1), γ^k] with γ = 1.02, and a
 *   quantile reads as its bucket's upper end, so it is never below the true
 *   percentile and less than 2% above it ({@link RELATIVE_ERROR}; counts are
 *   exact, so there is no rank error). Reading the upper end also means a
 *   root "slower than p99" is in a higher bucket than the p99 itself: at
 *   most 1% of a route's roots are, whatever the distribution (even
 *   durations that are all alike).
 * - Range: {@link MIN_MS} to {@link MAX_MS}; a duration outside is counted
 *   in the end bucket, so the quantile reads as that end.
 * - Memory: {@link BUCKETS} 32-bit counters per half, two halves: 7.3 KiB.
 * - Window: samples land in the current half; every `halfMs` the current
 *   half becomes the previous one and the older one is emptied, so a
 *   quantile covers the last `halfMs` to `2 * halfMs` of samples.
 * - Cost per sample: one `Math.log`, one increment. A quantile walks down
 *   from the highest bucket in use, so p99 stops after a few; callers still
 *   cache it.
 */
export const RELATIVE_ERROR = 0.02;
const GAMMA = 1 + RELATIVE_ERROR;
const LOG_GAMMA = Math.log(GAMMA);
/** Durations at or below this (in ms) share the first bucket. */
export const MIN_MS = 0.05;
/** Durations above this (in ms, an hour) share the last bucket. */
export const MAX_MS = 3_600_000;
const OFFSET = Math.ceil(Math.log(MIN_MS) / LOG_GAMMA);
/** Buckets per half. */
export const BUCKETS = Math.ceil(Math.log(MAX_MS) / LOG_GAMMA) - OFFSET + 1;

/** The bucket of a duration in ms: bucket `i` holds (γ^(i+OFFSET-1), γ^(i+OFFSET)]. */
function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.ceil(Math.log(ms) / LOG_GAMMA) - OFFSET;
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The upper end of a bucket: at least every value in it, by less than 2%. */
function valueOf(i: number): number {
  return GAMMA ** (i + OFFSET);
}

export class LatencySketch {
  private _current = new Uint32Array(BUCKETS);
  private _previous = new Uint32Array(BUCKETS);
  private _nCurrent = 0;
  private _nPrevious = 0;
  /** The highest bucket in use in each half (-1 when empty). */
  private _topCurrent = -1;
  private _topPrevious = -1;
  private _rotatedAt: number;

  /**
   * @param halfMs How long a half takes samples before the halves turn.
   * @param now The clock at creation, in ms.
   */
  constructor(
    private readonly _halfMs: number,
    now: number,
  ) {
    this._rotatedAt = now;
  }

  /** Samples in the window. */
  get count(): number {
    return this._nCurrent + this._nPrevious;
  }

  /** Adds one duration (ms) seen at `now`; returns true when the halves turned first. */
  add(ms: number, now: number): boolean {
    const turned = now - this._rotatedAt >= this._halfMs && this._turn(now);
    const i = bucketOf(ms);
    this._current[i]!++;
    this._nCurrent++;
    if (i > this._topCurrent) this._topCurrent = i;
    return turned;
  }

  /**
   * The `q` quantile (0 < q < 1) of the window, in ms: the sample at rank
   * ceil(q * count), read as its bucket's upper end. NaN when empty.
   */
  quantile(q: number): number {
    const n = this._nCurrent + this._nPrevious;
    if (n === 0) return Number.NaN;
    // Samples strictly above the one asked for; walk down from the top.
    const above = n - Math.max(1, Math.ceil(q * n));
    const a = this._current;
    const b = this._previous;
    let seen = 0;
    for (let i = Math.max(this._topCurrent, this._topPrevious); i > 0; i--) {
      seen += a[i]! + b[i]!;
      if (seen > above) return valueOf(i);
    }
    return valueOf(0);
  }

  private _turn(now: number): boolean {
    const old = this._previous;
    // A gap of two halves or more leaves nothing recent in either.
    if (now - this._rotatedAt >= 2 * this._halfMs) {
      this._current.fill(0);
      this._nCurrent = 0;
      this._topCurrent = -1;
    }
    old.fill(0);
    this._previous = this._current;
    this._nPrevious = this._nCurrent;
    this._topPrevious = this._topCurrent;
    this._current = old;
    this._nCurrent = 0;
    this._topCurrent = -1;
    this._rotatedAt = now;
    return true;
  }
}

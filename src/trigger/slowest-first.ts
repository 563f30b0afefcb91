/** A trigger waiting in a collection interval for its turn at the budget. */
export interface Candidate {
  readonly traceId: string;
  readonly reason: string;
  /** Errors first, then the slowest: see {@link score}. */
  readonly score: number;
  /** The latency threshold the root was judged against, in ms; NaN when none. */
  readonly thresholdMs: number;
}

/** Errors rank above any duration; among equals, the slower root first. */
export function score(error: boolean, durationMs: number): number {
  const ms = Number.isFinite(durationMs) && durationMs > 0 ? durationMs : 0;
  return error ? 1e15 + ms : ms;
}

/**
 * The best `capacity` triggers of one collection interval, by
 * {@link score}. Offering costs O(1) when the candidate does not make it
 * (the common case in a storm: it is compared with the worst kept), and
 * O(capacity) when it displaces the worst. Candidates are plain records of
 * ids and numbers: the spans stay in the ring, never held here.
 */
export class SlowestFirst {
  private readonly _kept: Candidate[] = [];
  private _worst = -1;
  private _worstScore = Number.NEGATIVE_INFINITY;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this._kept.length;
  }

  /** Whether a candidate of `s` would be kept now (without keeping it). */
  wouldKeep(s: number): boolean {
    return this._kept.length < this.capacity || s > this._worstScore;
  }

  /**
   * Keeps `c` (the caller checked {@link wouldKeep}); returns the candidate
   * it displaced, if the set was full.
   */
  keep(c: Candidate): Candidate | undefined {
    const kept = this._kept;
    let displaced: Candidate | undefined;
    if (kept.length < this.capacity) kept.push(c);
    else {
      displaced = kept[this._worst];
      kept[this._worst] = c;
    }
    if (kept.length === this.capacity) this._findWorst();
    return displaced;
  }

  /** Empties the set, returning what it held best first. */
  drain(): Candidate[] {
    const out = this._kept.splice(0);
    this._worst = -1;
    this._worstScore = Number.NEGATIVE_INFINITY;
    return out.sort((a, b) => b.score - a.score);
  }

  private _findWorst(): void {
    const kept = this._kept;
    let worst = 0;
    for (let i = 1; i < kept.length; i++) if (kept[i]!.score < kept[worst]!.score) worst = i;
    this._worst = worst;
    this._worstScore = kept[worst]!.score;
  }
}

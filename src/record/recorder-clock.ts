/**
 * A recorder's clock, in epoch ms: what age eviction, the flush interval and
 * the flush budget measure. It stamps each record with the record's own end
 * time (no clock read per record); no time it gives out (stamp or now) is
 * before one it gave out earlier, so the ring's order is its time order.
 *
 * Invariants:
 * - the clock is never more than `skewMs` ahead of the wall clock's last
 *   reading on this clock (the wall clock plus the steps back taken up), so
 *   one record stamped in the future (or at NaN) cannot stop age eviction or
 *   turn window flushes off;
 * - when the wall clock steps back by more than `skewMs` (NTP correcting a
 *   clock that ran ahead), the clock goes on from where it was at the wall
 *   clock's pace: the step back is added to every later reading. Without
 *   that, the clock would stand still for as long as the wall clock had run
 *   ahead, and with it age eviction, the flush interval and the budget.
 *
 * A step forward is taken as it comes: what was recorded before it looks
 * that much older.
 */
export class RecorderClock {
  /** The last time given out; -Infinity before the first. */
  last = Number.NEGATIVE_INFINITY;
  /** The wall clock (on this clock) when last read by {@link stamp}. */
  private _wall = Number.NEGATIVE_INFINITY;
  /** What the wall clock's steps back took away, added to its readings. */
  private _offset = 0;

  constructor(private readonly _skewMs: number) {}

  /** The time a record that ended at `endMs` (epoch ms, as its span says) is stamped with. */
  stamp(endMs: number): number {
    const skew = this._skewMs;
    let time = endMs + this._offset;
    // Reads the wall clock only when the record ends past the last reading
    // (plus the skew allowed): about once per `skewMs` under load.
    if (!(time <= this._wall + skew)) {
      this._wall = Date.now() + this._offset;
      if (!(time <= this._wall + skew)) time = this._wall;
    }
    if (time < this.last) {
      // Far behind: a record's own old end time, or the wall clock stepped back.
      if (time < this.last - skew) this._steppedBack(Date.now() + this._offset);
      return this.last;
    }
    this.last = time;
    return time;
  }

  /** Now on this clock: never behind the last time given out, and later stamps never behind it. */
  now(): number {
    const wall = Date.now() + this._offset;
    this._steppedBack(wall);
    if (wall > this.last) this.last = wall;
    return this.last;
  }

  /**
   * Now on the wall clock, never behind the last record's end time: for
   * times that are exported (the runtime events' spans), which must match
   * the spans' own times.
   */
  wallNow(): number {
    return Math.max(Date.now(), this.last - this._offset);
  }

  /** Goes on from `last` when `wall` (on this clock) shows the wall clock stepped back. */
  private _steppedBack(wall: number): void {
    if (!(wall < this.last - this._skewMs)) return;
    this._offset += this.last - wall;
    this._wall = this.last;
  }
}

/** What a runtime event is. */
export const GC = 1;
export const STALL = 2;
/** A heap and event-loop-utilization sample, taken at a flush. */
export const SAMPLE = 3;

/**
 * The kinds of GC pause, as `PerformanceObserver` reports them in
 * `entry.detail.kind` (`perf_hooks.constants.NODE_PERFORMANCE_GC_*`), named as
 * the `v8js.gc.type` attribute of OpenTelemetry's semantic conventions names
 * them.
 */
export const GC_TYPES: Readonly<Record<number, string>> = {
  1: 'minor',
  4: 'major',
  8: 'incremental',
  16: 'weakcb',
};

/** Float64 fields per event: type, start, end, a, b. */
const FIELDS = 5;
/** Bytes per event in the ring. */
export const EVENT_BYTES = FIELDS * 8;

/**
 * One runtime event, read out of the ring. Times are epoch milliseconds on
 * the clock spans use (`Date.now()` anchored, as the SDK anchors them).
 * For GC: `a` is the V8 kind (see {@link GC_TYPES}), `b` its flags. For a
 * stall: `a` is how late the detector's timer ran (ms). For a sample: `a` is
 * the heap in use (bytes), `b` the event-loop utilization since the
 * previous sample (0..1).
 */
export interface RuntimeEvent {
  readonly seq: number;
  readonly type: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly a: number;
  readonly b: number;
}

/**
 * A preallocated ring of runtime events, bounded by bytes (`capacity` events
 * of {@link EVENT_BYTES} each, in one Float64Array: nothing is allocated per
 * event) and by age (events that ended more than `maxAgeMs` before now go
 * when read). The oldest event is overwritten when it is full. Events are
 * numbered in arrival order (`seq`), so a reader can take only what is new.
 */
export class RuntimeRing {
  private readonly _data: Float64Array;
  private _head = 0;
  private _size = 0;
  private _nextSeq = 0;
  /** Events overwritten because the ring was full. */
  overwritten = 0;

  constructor(
    readonly capacity: number,
    private readonly _maxAgeMs: number,
  ) {
    this._data = new Float64Array(capacity * FIELDS);
  }

  /** Bytes the ring takes, exactly. */
  get bytes(): number {
    return this._data.byteLength;
  }

  get length(): number {
    return this._size;
  }

  /** The seq the next event will get. */
  get nextSeq(): number {
    return this._nextSeq;
  }

  push(type: number, startMs: number, endMs: number, a: number, b: number): void {
    let slot: number;
    if (this._size === this.capacity) {
      slot = this._head;
      this._head = (this._head + 1) % this.capacity;
      this.overwritten++;
    } else {
      slot = (this._head + this._size) % this.capacity;
      this._size++;
    }
    const d = this._data;
    const o = slot * FIELDS;
    d[o] = type;
    d[o + 1] = startMs;
    d[o + 2] = endMs;
    d[o + 3] = a;
    d[o + 4] = b;
    this._nextSeq++;
  }

  /**
   * Widens event `seq` to `[startMs, endMs]` with `a`, if the ring still
   * holds it; whether it did. For a stall seen again as it goes on.
   */
  extend(seq: number, startMs: number, endMs: number, a: number): boolean {
    const back = this._nextSeq - seq;
    if (back < 1 || back > this._size) return false;
    const slot = (this._head + this._size - back) % this.capacity;
    const o = slot * FIELDS;
    const d = this._data;
    d[o + 1] = Math.min(d[o + 1]!, startMs);
    d[o + 2] = Math.max(d[o + 2]!, endMs);
    d[o + 3] = Math.max(d[o + 3]!, a);
    return true;
  }

  /** Drops events that ended more than the ring's age before `now`. */
  evictOlderThan(now: number): void {
    const limit = now - this._maxAgeMs;
    const d = this._data;
    while (this._size > 0 && d[this._head * FIELDS + 2]! < limit) {
      this._head = (this._head + 1) % this.capacity;
      this._size--;
    }
  }

  /** The events held (after age eviction at `now`) with seq ≥ `fromSeq`, oldest first. Cold path. */
  read(now: number, fromSeq = 0): RuntimeEvent[] {
    this.evictOlderThan(now);
    const out: RuntimeEvent[] = [];
    const d = this._data;
    const firstSeq = this._nextSeq - this._size;
    for (let k = Math.max(0, fromSeq - firstSeq); k < this._size; k++) {
      const o = ((this._head + k) % this.capacity) * FIELDS;
      out.push({
        seq: firstSeq + k,
        type: d[o]!,
        startMs: d[o + 1]!,
        endMs: d[o + 2]!,
        a: d[o + 3]!,
        b: d[o + 4]!,
      });
    }
    return out;
  }

  clear(): void {
    this._head = 0;
    this._size = 0;
  }
}

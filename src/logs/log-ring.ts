/** Index state bits of a log record. */
export const LOG_LIVE = 1;
/** The record already went out at once (pass-through): a flush does not send it as a log again. */
export const LOG_SHIPPED = 2;

/**
 * Bytes per index entry: offset (4), length (4), time (8), trace and span id
 * positions (4 + 4), resource and scope pair (2), state (1), severity (1).
 */
export const LOG_INDEX_ENTRY_BYTES = 28;
/** The record size the index is sized for: a DEBUG line with a message and a few attributes. */
const ASSUMED_LOG_RECORD_BYTES = 128;

/** How `maxBytes` splits into record bytes and index entries, so both together take exactly `maxBytes`. */
export function logRingLayout(maxBytes: number): { ringBytes: number; capacity: number } {
  const capacity = Math.max(
    1,
    Math.floor(maxBytes / (ASSUMED_LOG_RECORD_BYTES + LOG_INDEX_ENTRY_BYTES)),
  );
  return { ringBytes: Math.max(0, maxBytes - capacity * LOG_INDEX_ENTRY_BYTES), capacity };
}

/** What the log ring counts; shared with the stats. */
export interface LogRingCounters {
  logsEvictedByAge: number;
  logsEvictedByBytes: number;
}

/**
 * Encoded `LogRecord`s in one preallocated byte ring, each record contiguous
 * (a record that does not fit before the end starts again at 0), oldest
 * evicted first, and a typed-array index of them. Records arrive in time
 * order (the recorder's clock never goes back), so age eviction only looks
 * at the head. A record taken by a flush leaves a tombstone in the index,
 * skipped, and its bytes are reclaimed when the head passes it. Every
 * operation but {@link forEachLive} is O(1) amortized.
 *
 * Entry `k` (0 ≤ k < `entries`) is at slot `(head + k) % capacity`.
 */
export class LogRing {
  readonly buf: Uint8Array;
  readonly capacity: number;
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  readonly time: Float64Array;
  /** Where the record's 16 trace id bytes are in `buf`, or -1. */
  readonly tid: Int32Array;
  /** Where the record's 8 span id bytes are in `buf`, or -1. */
  readonly sid: Int32Array;
  readonly pair: Uint16Array;
  readonly state: Uint8Array;
  readonly severity: Uint8Array;
  head = 0;
  entries = 0;
  /** Live records, and their bytes. */
  length = 0;
  bytes = 0;
  /** Where the next record's bytes go. */
  private _write = 0;

  constructor(
    ringBytes: number,
    capacity: number,
    private readonly _counters: LogRingCounters,
  ) {
    this.buf = new Uint8Array(ringBytes);
    this.capacity = capacity;
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.time = new Float64Array(capacity);
    this.tid = new Int32Array(capacity);
    this.sid = new Int32Array(capacity);
    this.pair = new Uint16Array(capacity);
    this.state = new Uint8Array(capacity);
    this.severity = new Uint8Array(capacity);
  }

  /** The slot of entry `k`. */
  slot(k: number): number {
    const s = this.head + k;
    return s >= this.capacity ? s - this.capacity : s;
  }

  /**
   * Makes `n` contiguous bytes free for the next record, evicting the
   * oldest records as needed, and returns where they start: the encoder
   * writes the record there, in place, and {@link commit} indexes it.
   * Returns -1 when `n` is larger than the ring.
   */
  reserve(n: number): number {
    const size = this.buf.length;
    if (n > size || n === 0) return -1;
    if (this.entries === this.capacity) this._evictHead(true);
    let at = this._place(n, size);
    while (at < 0) {
      this._evictHead(true);
      at = this._place(n, size);
    }
    return at;
  }

  /**
   * Indexes the `n` bytes written at `at` (a position {@link reserve} just
   * returned) as a new record; `tidAt` and `sidAt` are absolute positions in
   * `buf`, or -1. Returns its slot.
   */
  commit(
    at: number,
    n: number,
    time: number,
    tidAt: number,
    sidAt: number,
    pair: number,
    severity: number,
    state: number,
  ): number {
    this._write = at + n;
    const slot = this.slot(this.entries);
    this.entries++;
    this.off[slot] = at;
    this.len[slot] = n;
    this.time[slot] = time;
    this.tid[slot] = tidAt;
    this.sid[slot] = sidAt;
    this.pair[slot] = pair;
    this.state[slot] = LOG_LIVE | state;
    this.severity[slot] = severity > 255 ? 255 : severity < 0 ? 0 : severity;
    this.length++;
    this.bytes += n;
    return slot;
  }

  /** Copies `src[0, n)` in as a new record (`tidAt`, `sidAt` relative to `src`); the slot, or -1 when too large. */
  append(
    src: Uint8Array,
    n: number,
    time: number,
    tidAt: number,
    sidAt: number,
    pair: number,
    severity: number,
    state: number,
  ): number {
    const at = this.reserve(n);
    if (at < 0) return -1;
    this.buf.set(src.subarray(0, n), at);
    return this.commit(
      at,
      n,
      time,
      tidAt < 0 ? -1 : at + tidAt,
      sidAt < 0 ? -1 : at + sidAt,
      pair,
      severity,
      state,
    );
  }

  /** Where `n` bytes can go without touching live entries, or -1. */
  private _place(n: number, size: number): number {
    if (this.entries === 0) return 0;
    const start = this.off[this.head]!;
    const w = this._write;
    if (w > start) {
      // Used: [start, w). Free: [w, size) then [0, start).
      if (w + n <= size) return w;
      return n <= start ? 0 : -1;
    }
    // Wrapped (or w === start with entries: full). Free: [w, start).
    return w + n <= start ? w : -1;
  }

  private _evictHead(byBytes: boolean): void {
    const slot = this.head;
    if ((this.state[slot]! & LOG_LIVE) !== 0) {
      if (byBytes) this._counters.logsEvictedByBytes++;
      else this._counters.logsEvictedByAge++;
      this.length--;
      this.bytes -= this.len[slot]!;
    }
    this.state[slot] = 0;
    this.head = slot + 1 === this.capacity ? 0 : slot + 1;
    this.entries--;
    if (this.entries === 0) this.head = 0;
  }

  /** The time of the oldest entry, or +Infinity when empty. */
  ageTime(): number {
    return this.entries === 0 ? Number.POSITIVE_INFINITY : this.time[this.head]!;
  }

  /** Evicts records stamped before `cutoff`, and tombstones at the head. */
  evictOlderThan(cutoff: number): void {
    while (this.entries > 0) {
      const slot = this.head;
      if ((this.state[slot]! & LOG_LIVE) !== 0 && !(this.time[slot]! < cutoff)) return;
      this._evictHead(false);
    }
  }

  /** Takes the record in `slot` out: it leaves a tombstone. */
  remove(slot: number): void {
    if ((this.state[slot]! & LOG_LIVE) === 0) return;
    this.state[slot] = 0;
    this.length--;
    this.bytes -= this.len[slot]!;
  }

  /** Whether the record in `slot` belongs to the trace whose 16 id bytes are `traceId`. */
  hasTrace(slot: number, traceId: Uint8Array): boolean {
    const at = this.tid[slot]!;
    if (at < 0) return false;
    const buf = this.buf;
    for (let b = 0; b < 16; b++) if (buf[at + b] !== traceId[b]) return false;
    return true;
  }

  /** Calls `fn` with each live slot, oldest first. */
  forEachLive(fn: (slot: number) => void): void {
    for (let k = 0; k < this.entries; k++) {
      const slot = this.slot(k);
      if ((this.state[slot]! & LOG_LIVE) !== 0) fn(slot);
    }
  }

  clear(): void {
    this.state.fill(0);
    this.head = 0;
    this.entries = 0;
    this.length = 0;
    this.bytes = 0;
    this._write = 0;
  }
}

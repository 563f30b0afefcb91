import { nibble } from './span-encoder.js';

/** The most closed traces remembered (20 bytes each). */
export const MAX_CLOSED_TRACES = 16_384;
/** Entries a trace may take in the table: it goes to the one of its set that was set longest ago. */
const WAYS = 4;

/**
 * Where the records of recently closed traces start in the ring, so that a
 * trace flush after a trace's local root ended finds what that root left:
 * a child that ends (and triggers) after its root, or a second hop of the
 * trace (a retry, another call from upstream) that triggers after the first
 * hop ended. Without it a flush takes only the open root's records.
 *
 * A 4-way set-associative table in typed arrays: fixed memory (20 bytes an
 * entry, 320 KiB at most), O(1) without allocating, on every root's end. It
 * also keeps where the trace's records end (its last root's record), to tell
 * whether a window flush took any of them. A
 * trace is known by the last 64 bits of its id; a newer trace in a full set
 * pushes out the one whose records began first, so an entry lasts about as
 * many closed traces as the table has entries. A trace that shares another's
 * key only costs a scan that finds nothing: records are matched by their
 * whole id.
 */
export class ClosedTraces {
  private readonly _hi: Uint32Array;
  private readonly _lo: Uint32Array;
  /** The first record's sequence number, -1 for an empty entry. */
  private readonly _seqs: Float64Array;
  /** The last record's sequence number less the first's (at most 2^32 - 1). */
  private readonly _spans: Uint32Array;
  /** Sets less one: a set's first entry is `(lo & _setMask) * WAYS`. */
  private readonly _setMask: number;

  /** About one entry per `recordsPerEntry` records the ring holds, a power of two, 256 to {@link MAX_CLOSED_TRACES}. */
  constructor(ringCapacity: number, recordsPerEntry = 4) {
    let entries = 256;
    while (entries < MAX_CLOSED_TRACES && entries * recordsPerEntry < ringCapacity) entries *= 2;
    this._hi = new Uint32Array(entries);
    this._lo = new Uint32Array(entries);
    this._seqs = new Float64Array(entries).fill(-1);
    this._spans = new Uint32Array(entries);
    this._setMask = entries / WAYS - 1;
  }

  /** How many traces the table holds at most. */
  get slots(): number {
    return this._seqs.length;
  }

  /** A local root of `traceId` closed; its trace's records start at `firstSeq` and end at `lastSeq`. */
  closed(traceId: string, firstSeq: number, lastSeq: number = firstSeq): void {
    if (firstSeq < 0 || !readKey(traceId)) return;
    const hi = key[0]!;
    const lo = key[1]!;
    const seqs = this._seqs;
    const at = (lo & this._setMask) * WAYS;
    let victim = at;
    for (let i = at; i < at + WAYS; i++) {
      const seq = seqs[i]!;
      if (seq >= 0 && this._lo[i] === lo && this._hi[i] === hi) {
        // A trace that closes again (its second hop) keeps where its first began.
        const last = Math.max(seq + this._spans[i]!, lastSeq);
        if (firstSeq < seq) seqs[i] = firstSeq;
        this._spans[i] = Math.min(last - seqs[i]!, 0xffffffff);
        return;
      }
      if (seq < seqs[victim]!) victim = i;
    }
    this._hi[victim] = hi;
    this._lo[victim] = lo;
    seqs[victim] = firstSeq;
    this._spans[victim] = Math.min(Math.max(lastSeq - firstSeq, 0), 0xffffffff);
  }

  /** The first record's sequence number in entry `at` (from {@link find}). */
  firstAt(at: number): number {
    return this._seqs[at]!;
  }

  /** The last record's sequence number in entry `at` (from {@link find}). */
  lastAt(at: number): number {
    return this._seqs[at]! + this._spans[at]!;
  }

  /** A record `seq` of the closed trace `traceId` (a span that ended after its root): where its records end. */
  recorded(traceId: string, seq: number): void {
    const i = this.find(traceId);
    if (i >= 0 && seq > this._seqs[i]! + this._spans[i]!) {
      this._spans[i] = Math.min(seq - this._seqs[i]!, 0xffffffff);
    }
  }

  /** Where the records of `traceId` start, when a local root of it closed recently; else -1. */
  firstSeq(traceId: string): number {
    const i = this.find(traceId);
    return i < 0 ? -1 : this._seqs[i]!;
  }

  /** Where the records of `traceId` end (its last closed root's), when it closed recently; else -1. */
  lastSeq(traceId: string): number {
    const i = this.find(traceId);
    return i < 0 ? -1 : this._seqs[i]! + this._spans[i]!;
  }

  /** The entry of `traceId` (for {@link firstAt} and {@link lastAt}: one lookup for both), or -1. */
  find(traceId: string): number {
    if (!readKey(traceId)) return -1;
    const hi = key[0]!;
    const lo = key[1]!;
    const at = (lo & this._setMask) * WAYS;
    for (let i = at; i < at + WAYS; i++) {
      if (this._seqs[i]! >= 0 && this._lo[i] === lo && this._hi[i] === hi) return i;
    }
    return -1;
  }

  /** Forgets `traceId` (its records are all gone). */
  forget(traceId: string): void {
    const i = this.find(traceId);
    if (i >= 0) this._seqs[i] = -1;
  }

  clear(): void {
    this._seqs.fill(-1);
  }
}

/** The key {@link readKey} reads: the id's last 64 bits, as two uint32 (high, low). */
const key = new Uint32Array(2);

/** Reads the last 16 hex digits of a trace id into {@link key}; false when they are not hex. */
function readKey(traceId: string): boolean {
  const n = traceId.length;
  if (n < 16) return false;
  for (let half = 0; half < 2; half++) {
    let word = 0;
    for (let i = n - 16 + half * 8; i < n - 8 + half * 8; i++) {
      const d = nibble(traceId.charCodeAt(i));
      if (d < 0) return false;
      word = (word << 4) | d;
    }
    key[half] = word >>> 0;
  }
  return true;
}

/** The most closed traces remembered (12 bytes each). */
export const MAX_CLOSED_TRACES = 16_384;

/**
 * Where the records of recently closed traces start in the ring, so that a
 * trace flush after a trace's local root ended finds what that root left:
 * a child that ends (and triggers) after its root, or a second hop of the
 * trace (a retry, another call from upstream) that triggers after the first
 * hop ended. Without it a flush takes only the open root's records.
 *
 * A direct-mapped table in typed arrays: fixed memory (12 bytes a slot,
 * 196 KiB at most), O(1) without allocating, on every root's end. A trace
 * is known by the last 32 bits of its id; a newer trace in the same slot
 * pushes an older one out, and a trace that shares the slot's key only
 * costs a scan that finds nothing (records are matched by their whole id).
 */
export class ClosedTraces {
  private readonly _keys: Uint32Array;
  /** The first record's sequence number, -1 for an empty slot. */
  private readonly _seqs: Float64Array;
  private readonly _mask: number;

  /** About one slot per `recordsPerSlot` records the ring holds, a power of two, 256 to {@link MAX_CLOSED_TRACES}. */
  constructor(ringCapacity: number, recordsPerSlot = 4) {
    let slots = 256;
    while (slots < MAX_CLOSED_TRACES && slots * recordsPerSlot < ringCapacity) slots *= 2;
    this._keys = new Uint32Array(slots);
    this._seqs = new Float64Array(slots).fill(-1);
    this._mask = slots - 1;
  }

  /** How many slots the table has. */
  get slots(): number {
    return this._mask + 1;
  }

  /** A local root of `traceId` closed; its trace's records start at `firstSeq`. */
  closed(traceId: string, firstSeq: number): void {
    const key = keyOf(traceId);
    if (key < 0 || firstSeq < 0) return;
    const slot = key & this._mask;
    // A trace that closes again (its second hop) keeps where its first began.
    if (this._keys[slot] === key && this._seqs[slot]! >= 0 && this._seqs[slot]! <= firstSeq) return;
    this._keys[slot] = key;
    this._seqs[slot] = firstSeq;
  }

  /** Where the records of `traceId` start, when a local root of it closed recently; else -1. */
  firstSeq(traceId: string): number {
    const key = keyOf(traceId);
    if (key < 0) return -1;
    const slot = key & this._mask;
    return this._keys[slot] === key ? this._seqs[slot]! : -1;
  }

  clear(): void {
    this._seqs.fill(-1);
  }
}

/** The last 8 hex digits of a trace id as a uint32, or -1 when they are not hex. */
function keyOf(traceId: string): number {
  const n = traceId.length;
  if (n < 8) return -1;
  let key = 0;
  for (let i = n - 8; i < n; i++) {
    const c = traceId.charCodeAt(i);
    const d =
      c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    key = (key << 4) | d;
  }
  return key >>> 0;
}

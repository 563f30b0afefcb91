import type { FlushMark } from '../marks.js';
import type { InternTable } from './intern-table.js';

/** Index state bits of a record. */
export const LIVE = 1;
/** The record's trace has a local root open: age does not evict it. */
export const OPEN = 2;
/** The record outlived `minAgeMs` and was kept because its trace is open. */
export const PINNED = 4;
/** The record's interned ids refer to the odd lap's table (`dicts[1]`), else to `dicts[0]`. */
export const DICT_ODD = 8;
/** The record is a local root's: traces in a window are counted by them. */
export const ROOT = 16;

/** The two intern tables a record may refer to, by lap parity. */
export type Dicts = readonly [InternTable, InternTable];

/** Expanded lengths below this are counted one by one in {@link XlenSums}. */
export const SHORT_XLEN = 128;
/** Expanded lengths from this up are only counted in {@link XlenSums}: their varint may grow with the marks. */
export const LONG_XLEN = 15_360;

/**
 * A run's live records' expanded lengths as its ring counted them when it
 * handed the window over: what its requests' sizes follow from, with no read
 * of each record (see `runWireBytes`). Valid while the run still has
 * `length` live records and none taken.
 */
export interface XlenSums {
  readonly length: number;
  /** The sum of the records' expanded lengths. */
  readonly xbytes: number;
  /** How many records have each expanded length below SHORT_XLEN. */
  readonly shortX: Uint32Array;
  /** How many have an expanded length of LONG_XLEN or more. */
  readonly longX: number;
}

/**
 * Encoded records with their index: a window handed over by the ring (its
 * own buffer and index, circular, tombstones included), or records copied out
 * of it. What the export queue holds; never written again once made, so
 * export retries can re-send bytes assembled from it.
 *
 * Entry `k` (0 ≤ k < `entries`) is at slot `(head + k) % capacity`; a slot
 * whose state lacks LIVE is a tombstone, skipped.
 */
export class RecordRun {
  /** Live records not yet taken by an export batch. */
  length = 0;
  /** Their encoded bytes. */
  bytes = 0;
  /** The next entry to export. */
  cursor = 0;
  /**
   * Encoded Span fields to append after a record (and its marks) when it is
   * exported, by slot: log records as span events, added by a flush
   * contributor before the run is queued. Undefined when none.
   */
  extra: Map<number, Uint8Array> | undefined = undefined;

  constructor(
    readonly buf: Uint8Array,
    readonly off: Uint32Array,
    readonly len: Uint32Array,
    /** Each record's length once its interned strings are expanded. */
    readonly xlen: Uint32Array,
    readonly pair: Uint16Array,
    readonly state: Uint8Array,
    readonly capacity: number,
    readonly head: number,
    readonly entries: number,
    readonly mark: FlushMark,
    readonly dicts: Dicts,
    /** The live records' count and bytes, when the maker knows them (else counted here). */
    live?: { readonly length: number; readonly bytes: number },
    /** Their expanded lengths, when the maker counted them. */
    readonly xlenSums?: XlenSums,
  ) {
    if (live !== undefined) {
      this.length = live.length;
      this.bytes = live.bytes;
      return;
    }
    for (let k = 0; k < entries; k++) {
      const i = this.slot(k);
      if ((state[i]! & LIVE) === 0) continue;
      this.length++;
      this.bytes += len[i]!;
    }
  }

  /** Bytes of memory this run keeps alive: its buffer and index. */
  get retainedBytes(): number {
    return this.buf.byteLength + this.capacity * INDEX_ENTRY_BYTES;
  }

  /** The slot of entry `k`. */
  slot(k: number): number {
    // head < capacity and k < entries <= capacity: one compare, no division.
    const i = this.head + k;
    return i < this.capacity ? i : i - this.capacity;
  }

  /**
   * How many distinct trace ids the live records carry, read from each
   * record's first field (its 16 id bytes): no string per record. Cold path
   * (a flush someone asks about).
   */
  distinctTraces(): number {
    const counter = new TraceCounter(this);
    counter.step(this.entries);
    return counter.count;
  }

  /** The intern table the record in `slot` refers to. */
  dict(slot: number): InternTable {
    return this.dicts[(this.state[slot]! & DICT_ODD) === 0 ? 0 : 1];
  }
}

/** Entries of a run counted per turn of the event loop by {@link countTraces}. */
const COUNT_SLICE = 8192;

/** The distinct traces of `run`, counted a slice at a time between turns of the event loop. */
export async function countTraces(run: RecordRun | undefined): Promise<number> {
  if (run === undefined) return 0;
  const counter = new TraceCounter(run);
  while (!counter.step(COUNT_SLICE)) await new Promise((resolve) => setImmediate(resolve));
  return counter.count;
}

/**
 * Counts the distinct trace ids of a run's live records a slice at a time,
 * so a caller can yield between slices: an open-addressing table of slots,
 * hashed on the id's bytes.
 */
export class TraceCounter {
  count = 0;
  private _k = 0;
  /** Where the last live record's trace id is, -1 before any. */
  private _last = -1;
  private readonly _table: Int32Array;

  constructor(private readonly _run: RecordRun) {
    // By the entries, not `length`: an exported run can still be counted.
    let size = 16;
    while (size < _run.entries * 2) size *= 2;
    this._table = new Int32Array(size).fill(-1);
  }

  /** Counts up to `n` more entries; true when every entry has been counted. */
  step(n: number): boolean {
    const run = this._run;
    const table = this._table;
    const mask = table.length - 1;
    const buf = run.buf;
    // The ids are compared and hashed four bytes at a time.
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const off = run.off;
    const state = run.state;
    const end = Math.min(run.entries, this._k + n);
    let last = this._last;
    for (let k = this._k; k < end; k++) {
      const slot = run.slot(k);
      if ((state[slot]! & LIVE) === 0) continue;
      const o = off[slot]! + 2;
      const w0 = view.getInt32(o);
      const w1 = view.getInt32(o + 4);
      const w2 = view.getInt32(o + 8);
      const w3 = view.getInt32(o + 12);
      // The spans of a trace mostly end together: the last record's trace is counted.
      if (
        last >= 0 &&
        w0 === view.getInt32(last) &&
        w1 === view.getInt32(last + 4) &&
        w2 === view.getInt32(last + 8) &&
        w3 === view.getInt32(last + 12)
      ) {
        last = o;
        continue;
      }
      last = o;
      let i = mixId(w0, w1, w2, w3) & mask;
      for (;;) {
        const other = table[i]!;
        if (other < 0) {
          table[i] = slot;
          this.count++;
          break;
        }
        const p = off[other]! + 2;
        if (
          w0 === view.getInt32(p) &&
          w1 === view.getInt32(p + 4) &&
          w2 === view.getInt32(p + 8) &&
          w3 === view.getInt32(p + 12)
        )
          break;
        i = (i + 1) & mask;
      }
    }
    this._k = end;
    this._last = last;
    return end >= run.entries;
  }
}

/**
 * A 32-bit hash of an id's four words in which every bit of every word
 * reaches every bit of the result (a multiply-xorshift finalizer after each
 * word), so ids differing only in one byte still spread over the table.
 */
function mixId(w0: number, w1: number, w2: number, w3: number): number {
  return mix(mix(mix(mix(0x9e3779b9, w0), w1), w2), w3);
}

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Bytes per index entry: offset (4), length (4), expanded length (4), end
 * time (8), resource and scope pair (2), state (1).
 */
export const INDEX_ENTRY_BYTES = 23;

/** A growable run for records copied one at a time (a trace flush, late spans, contributions). */
export class RunBuilder {
  private _buf: Uint8Array;
  private _off: Uint32Array;
  private _len: Uint32Array;
  private _xlen: Uint32Array;
  private _pair: Uint16Array;
  private _state: Uint8Array;
  private _pos = 0;
  private _n = 0;

  constructor(bytes = 4096, records = 16) {
    this._buf = new Uint8Array(bytes);
    this._off = new Uint32Array(records);
    this._len = new Uint32Array(records);
    this._xlen = new Uint32Array(records);
    this._pair = new Uint16Array(records);
    this._state = new Uint8Array(records);
  }

  get count(): number {
    return this._n;
  }

  get bytes(): number {
    return this._pos;
  }

  /** Bytes of memory the builder keeps alive, counted as a run's are: its buffer and index, spare room included. */
  get retainedBytes(): number {
    return this._buf.length + this._off.length * INDEX_ENTRY_BYTES;
  }

  /** Adds a copy of `src[from, to)`; `state` keeps its DICT_ODD bit. */
  add(src: Uint8Array, from: number, to: number, xlen: number, pair: number, state: number): void {
    const n = to - from;
    if (this._pos + n > this._buf.length) {
      let size = this._buf.length * 2;
      while (size < this._pos + n) size *= 2;
      const buf = new Uint8Array(size);
      buf.set(this._buf.subarray(0, this._pos));
      this._buf = buf;
    }
    if (this._n === this._off.length) {
      const grow = <T extends Uint32Array | Uint16Array | Uint8Array>(
        a: T,
        make: (n: number) => T,
      ): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this._off = grow(this._off, (k) => new Uint32Array(k));
      this._len = grow(this._len, (k) => new Uint32Array(k));
      this._xlen = grow(this._xlen, (k) => new Uint32Array(k));
      this._pair = grow(this._pair, (k) => new Uint16Array(k));
      this._state = grow(this._state, (k) => new Uint8Array(k));
    }
    this._buf.set(src.subarray(from, to), this._pos);
    this._off[this._n] = this._pos;
    this._len[this._n] = n;
    this._xlen[this._n] = xlen;
    this._pair[this._n] = pair;
    this._state[this._n] = LIVE | (state & DICT_ODD);
    this._pos += n;
    this._n++;
  }

  /** The records added, trimmed to size, as a run under `mark`. */
  build(mark: FlushMark, dicts: Dicts): RecordRun {
    const n = this._n;
    return new RecordRun(
      this._buf.slice(0, this._pos),
      this._off.slice(0, n),
      this._len.slice(0, n),
      this._xlen.slice(0, n),
      this._pair.slice(0, n),
      this._state.slice(0, n),
      Math.max(n, 1),
      0,
      n,
      mark,
      dicts,
      { length: n, bytes: this._pos },
    );
  }
}

/**
 * The live records of `run` from its cursor on, copied into buffers of their
 * own size, with their extra fields: for a window run that keeps a whole
 * ring's buffer and index alive for a few records.
 */
export function compactRun(run: RecordRun): RecordRun {
  const builder = new RunBuilder(Math.max(run.bytes, 16), Math.max(run.length, 1));
  let extra: Map<number, Uint8Array> | undefined;
  for (let k = run.cursor; k < run.entries; k++) {
    const slot = run.slot(k);
    if ((run.state[slot]! & LIVE) === 0) continue;
    const fields = run.extra?.get(slot);
    if (fields !== undefined) (extra ??= new Map()).set(builder.count, fields);
    const o = run.off[slot]!;
    builder.add(run.buf, o, o + run.len[slot]!, run.xlen[slot]!, run.pair[slot]!, run.state[slot]!);
  }
  const compact = builder.build(run.mark, run.dicts);
  compact.extra = extra;
  return compact;
}

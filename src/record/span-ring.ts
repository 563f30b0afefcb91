import type { SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { FlushMark } from '../marks.js';
import { expandRecord } from './expand.js';
import { InternTable } from './intern-table.js';
import { ProtobufWriter, WriterFull } from './protobuf-writer.js';
import {
  DICT_ODD,
  type Dicts,
  INDEX_ENTRY_BYTES,
  LIVE,
  OPEN,
  PINNED,
  RecordRun,
  RunBuilder,
} from './record-run.js';
import type { SpanEncoder } from './span-encoder.js';

/**
 * The record index is sized for records of this many bytes on average; a
 * workload of smaller spans fills the index before the ring and evicts by
 * count, which is still within `maxBytes`.
 */
export const ASSUMED_RECORD_BYTES = 160;
/** A record may take at most this share of the ring; bigger spans are dropped and counted. */
const MAX_RECORD_SHARE = 2;

/** How the ring splits `maxBytes` between bytes and index, exactly. */
export function ringLayout(maxBytes: number): { ringBytes: number; capacity: number } {
  const capacity = Math.max(1, Math.floor(maxBytes / (ASSUMED_RECORD_BYTES + INDEX_ENTRY_BYTES)));
  return { ringBytes: Math.max(0, maxBytes - capacity * INDEX_ENTRY_BYTES), capacity };
}

/** What the ring counts; shared with the recorder's stats. */
export interface RingCounters {
  spansEvictedByBytes: number;
  spansEvictedByAge: number;
  /** Spans whose record alone would not fit in the ring. */
  spansTooLarge: number;
}

/** Told when a pinned record moves, so the open-trace table can follow it. */
export interface RelocationListener {
  relocated(from: number, to: number, record: Uint8Array): void;
}

/**
 * The recorder's memory: encoded `Span` records in one preallocated byte
 * ring, oldest overwritten first, and a typed-array index of them. Nothing is
 * allocated per span. `maxBytes` is the ring's bytes plus its index, exactly.
 *
 * Records are addressed by sequence numbers that only grow (exact up to
 * 2^53): record `seq` is in slot `seq % capacity` while
 * `headSeq <= seq < tailSeq` and its state has LIVE. A record never wraps:
 * when one does not fit before the end of the ring, a new lap starts at 0.
 *
 * Invariants: live records' byte ranges do not overlap; index order is ring
 * order; `bytes` is the sum of the live records' lengths.
 */
export class SpanRing {
  private _buf: Uint8Array;
  private _off: Uint32Array;
  private _len: Uint32Array;
  private _xlen: Uint32Array;
  private _time: Float64Array;
  private _pair: Uint16Array;
  private _state: Uint8Array;
  private readonly _writer: ProtobufWriter;
  private readonly _maxRecord: number;
  private _headSeq = 0;
  private _tailSeq = 0;
  /** Where the next record goes. */
  private _tailPos = 0;
  private _length = 0;
  private _bytes = 0;
  private _laps = 0;
  private _scratch: Uint8Array | undefined;
  /** The intern tables of this lap and the one before, by lap parity; a new one each lap. */
  private _dicts: [InternTable, InternTable] = [new InternTable(), new InternTable()];
  private _parity = 0;
  relocations: RelocationListener | undefined;

  constructor(
    readonly ringBytes: number,
    readonly capacity: number,
    private readonly _encoder: SpanEncoder,
    private readonly _counters: RingCounters,
  ) {
    this._buf = new Uint8Array(ringBytes);
    this._off = new Uint32Array(capacity);
    this._len = new Uint32Array(capacity);
    this._xlen = new Uint32Array(capacity);
    this._time = new Float64Array(capacity);
    this._pair = new Uint16Array(capacity);
    this._state = new Uint8Array(capacity);
    this._writer = new ProtobufWriter(this._buf);
    this._maxRecord = Math.floor(ringBytes / MAX_RECORD_SHARE);
  }

  /** Live records. */
  get length(): number {
    return this._length;
  }

  /** Bytes of the live records. */
  get bytes(): number {
    return this._bytes;
  }

  /** Bytes the ring and its index hold in memory: exactly the recorder's `maxBytes`. */
  get allocatedBytes(): number {
    return this.ringBytes + this.capacity * INDEX_ENTRY_BYTES;
  }

  /** Laps started so far (how often the ring wrapped). */
  get laps(): number {
    return this._laps;
  }

  get headSeq(): number {
    return this._headSeq;
  }

  get tailSeq(): number {
    return this._tailSeq;
  }

  isLive(seq: number): boolean {
    return (
      seq >= this._headSeq &&
      seq < this._tailSeq &&
      (this._state[seq % this.capacity]! & LIVE) !== 0
    );
  }

  stateOf(seq: number): number {
    return this.isLive(seq) ? this._state[seq % this.capacity]! : 0;
  }

  setState(seq: number, state: number): void {
    this._state[seq % this.capacity] = state;
  }

  pairOf(seq: number): number {
    return this._pair[seq % this.capacity]!;
  }

  timeOf(seq: number): number {
    return this._time[seq % this.capacity]!;
  }

  /** The intern tables records may refer to now. */
  get dicts(): Dicts {
    return this._dicts;
  }

  /** Heap bytes of the intern tables' strings (beyond `maxBytes`). */
  get internedBytes(): number {
    return this._dicts[0].bytes + this._dicts[1].bytes;
  }

  /** The record's length once expanded. */
  xlenOf(seq: number): number {
    return this._xlen[seq % this.capacity]!;
  }

  /** The intern table the record refers to. */
  dictOf(seq: number): InternTable {
    return this._dicts[(this._state[seq % this.capacity]! & DICT_ODD) === 0 ? 0 : 1];
  }

  /** The bytes of a live record; a view valid until the next append. */
  record(seq: number): Uint8Array {
    const i = seq % this.capacity;
    const o = this._off[i]!;
    return this._buf.subarray(o, o + this._len[i]!);
  }

  /**
   * Encodes `span` as a new record, evicting the oldest records it overwrites.
   * Returns its sequence number, or -1 when it alone is too large for the ring.
   */
  append(span: ReadableSpan, ctx: SpanContext, pair: number, time: number, state: number): number {
    const w = this._writer;
    let start = this._tailPos;
    for (;;) {
      w.pos = start;
      w.end = Math.min(this.ringBytes, start + this._maxRecord);
      try {
        this._encoder.encode(w, span, ctx, this._dicts[this._parity]);
        break;
      } catch (error) {
        if (error !== WriterFull) throw error;
        // The failed attempt wrote at most a short string past where it stopped.
        this._evictOverlap(start, Math.min(w.end, w.pos + 64));
        if (start === 0 || w.end - start >= this._maxRecord) {
          this._counters.spansTooLarge++;
          return -1;
        }
        start = this._wrap(start);
      }
    }
    const parity = this._parity === 0 ? 0 : DICT_ODD;
    return this._commit(start, w.pos, w.pos - start + w.extra, pair, time, state | parity);
  }

  /**
   * Appends a copy of `bytes` as a record (a relocated or injected one) that
   * expands to `xlen` bytes with the intern table `state & DICT_ODD` names,
   * which must be this lap's or have no ids in the record.
   */
  appendBytes(
    bytes: Uint8Array,
    pair: number,
    time: number,
    state: number,
    xlen = bytes.length,
  ): number {
    const n = bytes.length;
    if (n > this._maxRecord) {
      this._counters.spansTooLarge++;
      return -1;
    }
    let start = this._tailPos;
    if (start + n > this.ringBytes) start = this._wrap(start);
    this._evictOverlap(start, start + n);
    this._buf.set(bytes, start);
    return this._commit(start, start + n, xlen, pair, time, state);
  }

  /** Starts a new lap: records between `from` and the end are the oldest, and go. */
  private _wrap(from: number): number {
    this._evictOverlap(from, this.ringBytes);
    this._laps++;
    // Records of the lap before the last are all gone now: so is its table.
    this._parity ^= 1;
    this._dicts =
      this._parity === 0
        ? [new InternTable(), this._dicts[1]]
        : [this._dicts[0], new InternTable()];
    return 0;
  }

  private _commit(
    start: number,
    end: number,
    xlen: number,
    pair: number,
    time: number,
    state: number,
  ): number {
    this._evictOverlap(start, end);
    if (this._tailSeq - this._headSeq >= this.capacity) this._shift(true);
    const seq = this._tailSeq++;
    const i = seq % this.capacity;
    this._off[i] = start;
    this._len[i] = end - start;
    this._xlen[i] = xlen;
    this._time[i] = time;
    this._pair[i] = pair;
    this._state[i] = state | LIVE;
    this._tailPos = end;
    this._length++;
    this._bytes += end - start;
    return seq;
  }

  /** Evicts head records whose bytes overlap `[from, to)`. */
  private _evictOverlap(from: number, to: number): void {
    while (this._headSeq < this._tailSeq) {
      const i = this._headSeq % this.capacity;
      const o = this._off[i]!;
      if ((this._state[i]! & LIVE) !== 0 && (o >= to || o + this._len[i]! <= from)) return;
      this._shift(true);
    }
  }

  /** Drops the head entry; a live one counts as evicted by bytes when `byBytes`. */
  private _shift(byBytes: boolean): void {
    const i = this._headSeq % this.capacity;
    if ((this._state[i]! & LIVE) !== 0) {
      this._length--;
      this._bytes -= this._len[i]!;
      if (byBytes) this._counters.spansEvictedByBytes++;
    }
    this._state[i] = 0;
    this._headSeq++;
    if (this._length === 0) this._bytes = 0;
  }

  /** Removes a live record (taken by a flush or gone by age); its bytes stay until overwritten. */
  remove(seq: number): void {
    const i = seq % this.capacity;
    if (!this.isLive(seq)) return;
    this._state[i] = 0;
    this._length--;
    this._bytes -= this._len[i]!;
    if (this._length === 0) this._bytes = 0;
    while (
      this._headSeq < this._tailSeq &&
      (this._state[this._headSeq % this.capacity]! & LIVE) === 0
    ) {
      this._headSeq++;
    }
  }

  /** The end time of the oldest entry; Infinity when empty. */
  headTime(): number {
    return this._headSeq < this._tailSeq ? this._time[this._headSeq % this.capacity]! : Infinity;
  }

  /**
   * Records that ended before `cutoff` go, oldest first, except those whose
   * trace has a local root open: they move to the tail, marked PINNED, so the
   * whole trace can still leave together. Stops at the first younger record
   * (or the first pinned one moved by this call).
   */
  evictOlderThan(cutoff: number): void {
    const stop = this._tailSeq;
    while (this._headSeq < this._tailSeq && this._headSeq < stop) {
      const seq = this._headSeq;
      const i = seq % this.capacity;
      const state = this._state[i]!;
      if ((state & LIVE) !== 0 && this._time[i]! >= cutoff) return;
      if ((state & OPEN) !== 0) {
        this._relocate(seq);
        continue;
      }
      if ((state & LIVE) !== 0) this._counters.spansEvictedByAge++;
      this._shift(false);
    }
  }

  private _relocate(seq: number): void {
    const i = seq % this.capacity;
    const n = this._len[i]!;
    const xlen = this._xlen[i]!;
    if (this._scratch === undefined || this._scratch.length < xlen) {
      this._scratch = new Uint8Array(Math.max(xlen, 256));
    }
    let state = this._state[i]! | PINNED;
    let copy: Uint8Array;
    if ((state & DICT_ODD) === (this._parity === 0 ? 0 : DICT_ODD)) {
      copy = this._scratch.subarray(0, n);
      copy.set(this.record(seq));
    } else {
      // Its table goes at the next lap: the moved copy carries its strings inline.
      const o = this._off[i]!;
      expandRecord(this._buf, o, o + n, this.dictOf(seq), this._scratch, 0);
      copy = this._scratch.subarray(0, xlen);
      state ^= DICT_ODD;
    }
    const pair = this._pair[i]!;
    const time = this._time[i]!;
    this._shift(false);
    const moved = this.appendBytes(copy, pair, time, state, xlen);
    if (moved < 0) this._counters.spansEvictedByBytes++;
    this.relocations?.relocated(seq, moved, copy);
  }

  /**
   * Hands the whole window over as a run, in O(1), and starts an empty ring
   * of the same size: the run keeps the old buffer and index.
   */
  detach(mark: FlushMark): RecordRun {
    const run = new RecordRun(
      this._buf,
      this._off,
      this._len,
      this._xlen,
      this._pair,
      this._state,
      this.capacity,
      this._headSeq % this.capacity,
      this._tailSeq - this._headSeq,
      mark,
      this._dicts,
    );
    this._buf = new Uint8Array(this.ringBytes);
    this._off = new Uint32Array(this.capacity);
    this._len = new Uint32Array(this.capacity);
    this._xlen = new Uint32Array(this.capacity);
    this._time = new Float64Array(this.capacity);
    this._pair = new Uint16Array(this.capacity);
    this._state = new Uint8Array(this.capacity);
    this._writer.reset(this._buf);
    // Sequence numbers go on, so old ones stay dead.
    this._headSeq = this._tailSeq;
    this._tailPos = 0;
    this._length = 0;
    this._bytes = 0;
    return run;
  }

  /** Copies the live records out, oldest first, as a run (a snapshot that leaves the ring as it is). */
  copyWindow(mark: FlushMark): RecordRun {
    const builder = new RunBuilder(Math.max(this._bytes, 16), Math.max(this._length, 1));
    for (let seq = this._headSeq; seq < this._tailSeq; seq++) {
      const i = seq % this.capacity;
      if ((this._state[i]! & LIVE) === 0) continue;
      this.copyInto(builder, seq);
    }
    return builder.build(mark, this._dicts);
  }

  /** Copies one live record into `builder`. */
  copyInto(builder: RunBuilder, seq: number): void {
    const i = seq % this.capacity;
    const o = this._off[i]!;
    builder.add(this._buf, o, o + this._len[i]!, this._xlen[i]!, this._pair[i]!, this._state[i]!);
  }

  /** Calls `fn` with each live record's sequence number, oldest first (cold paths only). */
  forEachLive(fn: (seq: number) => void): void {
    for (let seq = this._headSeq; seq < this._tailSeq; seq++) {
      if ((this._state[seq % this.capacity]! & LIVE) !== 0) fn(seq);
    }
  }

  /** Forgets every record. */
  clear(): void {
    this._state.fill(0);
    this._headSeq = this._tailSeq;
    this._tailPos = 0;
    this._length = 0;
    this._bytes = 0;
  }
}

import { Buffer } from 'node:buffer';
import type { SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { FlushMark } from '../marks.js';
import { InternTable } from './intern-table.js';
import { ProtobufWriter, WriterFull } from './protobuf-writer.js';
import {
  DICT_ODD,
  type Dicts,
  INDEX_ENTRY_BYTES,
  LIVE,
  LONG_XLEN,
  OPEN,
  PINNED,
  ROOT,
  RecordRun,
  RunBuilder,
  SHORT_XLEN,
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
/** Free bytes made ahead of the tail before a span is encoded in place; most spans fit. */
const RESERVE = 2048;

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

/**
 * `seq % capacity`, through a float division: V8 compiles `%` of two
 * integers to an integer division, several times slower, and slower still
 * once `seq` passes 2^31. Exact for integers `0 <= seq < 2^53`: the
 * division rounds correctly, so its floor is never below the true quotient
 * (nor above it, in that range; the compare guards that).
 */
export function slotOf(seq: number, capacity: number): number {
  const i = seq - Math.floor(seq / capacity) * capacity;
  return i < 0 ? i + capacity : i;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The ring's bytes, not zeroed: zeroing 14 MiB (a 16 MiB `maxBytes`) is a
 * memset, and on fresh pages a page fault for every 4 KiB, in the window
 * flush's one synchronous step, where a new ring replaces the one handed to
 * the export. Nothing reads bytes the ring has not written: every reader
 * takes a record's offset and length from the index, which only lists what
 * was written, as it must after the first lap anyway, when the bytes between
 * records are an old lap's. A plain Uint8Array over the memory, so `slice`
 * copies as it does for any typed array (Buffer's would not).
 */
function ringBuffer(bytes: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, bytes);
}
/** The scratch buffer is kept between spans up to this size; a larger one goes after its span. */
const SCRATCH_KEEP_BYTES = 64 * 1024;

/**
 * The recorder's memory: encoded `Span` records in one preallocated byte
 * ring, oldest overwritten first, and a typed-array index of them. Nothing is
 * allocated per span. `maxBytes` is the ring's bytes plus its index, exactly.
 *
 * Records are addressed by sequence numbers that only grow (exact up to
 * 2^53): record `seq` is in slot `seq % capacity` ({@link slotOf}) while
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
  /**
   * The live records' expanded lengths: their sum, how many there are of each
   * length below SHORT_XLEN, and how many from LONG_XLEN up. A window flush
   * sizes its requests from these (RecordRun.sizes) instead of reading
   * 90,000 records in its synchronous step.
   */
  private _xbytes = 0;
  private _shortX = new Uint32Array(SHORT_XLEN);
  private _longX = 0;
  private _roots = 0;
  private _laps = 0;
  private readonly _scratchWriter = new ProtobufWriter(NO_BYTES);
  /** Free bytes made ahead of the tail before encoding in place. */
  private readonly _reserve: number;
  /** The intern tables of this lap and the one before, by lap parity; a new one each lap. */
  private _dicts: [InternTable, InternTable];
  private _parity = 0;
  /** Records before this one have been checked for age. */
  private _ageSeq = 0;

  constructor(
    readonly ringBytes: number,
    readonly capacity: number,
    private readonly _encoder: SpanEncoder,
    private readonly _counters: RingCounters,
  ) {
    this._buf = ringBuffer(ringBytes);
    this._off = new Uint32Array(capacity);
    this._len = new Uint32Array(capacity);
    this._xlen = new Uint32Array(capacity);
    this._time = new Float64Array(capacity);
    this._pair = new Uint16Array(capacity);
    this._state = new Uint8Array(capacity);
    this._writer = new ProtobufWriter(this._buf);
    this._dicts = [new InternTable(ringBytes), new InternTable(ringBytes)];
    this._maxRecord = Math.floor(ringBytes / MAX_RECORD_SHARE);
    this._reserve = Math.min(RESERVE, Math.floor(ringBytes / 8));
  }

  /** Live records. */
  get length(): number {
    return this._length;
  }

  /** Bytes of the live records. */
  get bytes(): number {
    return this._bytes;
  }

  /** Live records marked ROOT. */
  get roots(): number {
    return this._roots;
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

  /** The first sequence number a record of a closed trace can be live at: those before it aged out (or were overwritten). */
  get unagedSeq(): number {
    return Math.max(this._ageSeq, this._headSeq);
  }

  isLive(seq: number): boolean {
    return (
      seq >= this._headSeq &&
      seq < this._tailSeq &&
      (this._state[slotOf(seq, this.capacity)]! & LIVE) !== 0
    );
  }

  stateOf(seq: number): number {
    return this.isLive(seq) ? this._state[slotOf(seq, this.capacity)]! : 0;
  }

  setState(seq: number, state: number): void {
    this._state[slotOf(seq, this.capacity)] = state;
  }

  pairOf(seq: number): number {
    return this._pair[slotOf(seq, this.capacity)]!;
  }

  timeOf(seq: number): number {
    return this._time[slotOf(seq, this.capacity)]!;
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
    return this._xlen[slotOf(seq, this.capacity)]!;
  }

  /** The intern table the record refers to. */
  dictOf(seq: number): InternTable {
    return this._dicts[(this._state[slotOf(seq, this.capacity)]! & DICT_ODD) === 0 ? 0 : 1];
  }

  /**
   * Whether live record `seq` is of the trace whose id bytes are `want` (16),
   * read in place: a scan for a trace's records allocates nothing.
   */
  isOfTrace(seq: number, want: Uint8Array): boolean {
    const i = slotOf(seq, this.capacity);
    const o = this._off[i]!;
    const buf = this._buf;
    if (this._len[i]! < 18 || buf[o] !== 0x0a || buf[o + 1] !== 0x10) return false;
    for (let k = 0; k < 16; k++) if (buf[o + 2 + k] !== want[k]) return false;
    return true;
  }

  /** The bytes of a live record; a view valid until the next append. */
  record(seq: number): Uint8Array {
    const i = slotOf(seq, this.capacity);
    const o = this._off[i]!;
    return this._buf.subarray(o, o + this._len[i]!);
  }

  /**
   * Encodes `span` as a new record, evicting the oldest records to make room.
   * Returns its sequence number, or -1 when it alone is too large for the
   * ring (it then evicts nothing). Afterwards {@link suspect} says whether
   * the encoder had to sanitize a value.
   *
   * The span is encoded in place, into free space ahead of the tail (at
   * least {@link RESERVE} bytes are freed first, oldest records going); one
   * that does not fit there is encoded into a scratch buffer, and copied in
   * once room is made.
   */
  append(span: ReadableSpan, ctx: SpanContext, pair: number, time: number, state: number): number {
    const w = this._writer;
    let start = this._tailPos;
    if (this.ringBytes - start < this._reserve) start = this._wrap(start);
    let free = this._freeEnd(start);
    if (free - start < this._reserve) {
      this._freeAhead(start);
      free = this._freeEnd(start);
    }
    w.buf = this._buf;
    w.pos = start;
    w.end = Math.min(free, start + this._maxRecord);
    try {
      this._encoder.encode(w, span, ctx, this._dicts[this._parity]);
      this.suspect = w.suspect;
      return this._commit(
        start,
        w.pos,
        w.pos - start + w.extra,
        pair,
        time,
        state | this._dictBit(),
      );
    } catch (error) {
      if (error !== WriterFull) throw error;
    }
    try {
      return this._appendAside(span, ctx, pair, time, state, start);
    } finally {
      // A buffer grown for one large span (up to half the ring) is not kept.
      if (this._scratchWriter.buf.length > SCRATCH_KEEP_BYTES) this._scratchWriter.reset(NO_BYTES);
    }
  }

  /**
   * Too big for the free space at `start`: encodes aside, then makes room.
   * Encoded again when that starts a lap, so ids refer to the new lap's table.
   */
  private _appendAside(
    span: ReadableSpan,
    ctx: SpanContext,
    pair: number,
    time: number,
    state: number,
    start: number,
  ): number {
    const scratch = this._scratchWriter;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this._encodeAside(span, ctx)) {
        this._counters.spansTooLarge++;
        return -1;
      }
      const n = scratch.pos;
      if (start + n > this.ringBytes) {
        start = this._wrap(start);
        continue;
      }
      this.suspect = scratch.suspect;
      this._evictOverlap(start, start + n);
      this._buf.set(scratch.buf.subarray(0, n), start);
      return this._commit(start, start + n, n + scratch.extra, pair, time, state | this._dictBit());
    }
    this._counters.spansTooLarge++;
    return -1;
  }

  /** Encodes into the scratch writer, growing it up to the largest record; false when too large. */
  private _encodeAside(span: ReadableSpan, ctx: SpanContext): boolean {
    const scratch = this._scratchWriter;
    for (let size = 4096; ; size *= 4) {
      const cap = Math.min(size, this._maxRecord);
      if (scratch.buf.length < cap) scratch.reset(new Uint8Array(cap));
      scratch.pos = 0;
      scratch.end = cap;
      try {
        this._encoder.encode(scratch, span, ctx, this._dicts[this._parity]);
        return true;
      } catch (error) {
        if (error !== WriterFull) throw error;
        if (cap >= this._maxRecord) return false;
      }
    }
  }

  /** Whether the last {@link append} sanitized a value (the span should be repaired). */
  suspect = false;

  private _dictBit(): number {
    return this._parity === 0 ? 0 : DICT_ODD;
  }

  /** Where the free space starting at `start` ends: the oldest record ahead of it, or the ring's end. */
  private _freeEnd(start: number): number {
    while (this._headSeq < this._tailSeq) {
      const i = slotOf(this._headSeq, this.capacity);
      if ((this._state[i]! & LIVE) === 0) {
        this._headSeq++;
        continue;
      }
      const o = this._off[i]!;
      return o >= start ? o : this.ringBytes;
    }
    return this.ringBytes;
  }

  /** Evicts the oldest records ahead of `start` until {@link RESERVE} bytes are free (or none are left ahead). */
  private _freeAhead(start: number): void {
    while (this._headSeq < this._tailSeq) {
      const end = this._freeEnd(start);
      if (end - start >= this._reserve || end === this.ringBytes) return;
      this._shift(true);
    }
  }

  /**
   * Appends a copy of `bytes` as a record (tests inject records so) that
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
    // The tail moves now, even if no record follows (a span too large), so
    // a lap is never started twice from the same place.
    this._tailPos = 0;
    // Records of the lap before the last are all gone now: so is its table.
    this._parity ^= 1;
    this._dicts =
      this._parity === 0
        ? [new InternTable(this.ringBytes), this._dicts[1]]
        : [this._dicts[0], new InternTable(this.ringBytes)];
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
    const i = slotOf(seq, this.capacity);
    this._off[i] = start;
    this._len[i] = end - start;
    this._xlen[i] = xlen;
    this._time[i] = time;
    this._pair[i] = pair;
    this._state[i] = state | LIVE;
    if ((state & ROOT) !== 0) this._roots++;
    this._tailPos = end;
    this._length++;
    this._bytes += end - start;
    this._xbytes += xlen;
    if (xlen < SHORT_XLEN) this._shortX[xlen]!++;
    else if (xlen >= LONG_XLEN) this._longX++;
    return seq;
  }

  private _forgetX(xlen: number): void {
    this._xbytes -= xlen;
    if (xlen < SHORT_XLEN) this._shortX[xlen]!--;
    else if (xlen >= LONG_XLEN) this._longX--;
  }

  /** Evicts head records whose bytes overlap `[from, to)`. */
  private _evictOverlap(from: number, to: number): void {
    while (this._headSeq < this._tailSeq) {
      const i = slotOf(this._headSeq, this.capacity);
      const o = this._off[i]!;
      if ((this._state[i]! & LIVE) !== 0 && (o >= to || o + this._len[i]! <= from)) return;
      this._shift(true);
    }
  }

  /** Drops the head entry; a live one counts as evicted by bytes when `byBytes`. */
  private _shift(byBytes: boolean): void {
    const i = slotOf(this._headSeq, this.capacity);
    if ((this._state[i]! & LIVE) !== 0) {
      this._length--;
      this._bytes -= this._len[i]!;
      this._forgetX(this._xlen[i]!);
      if ((this._state[i]! & ROOT) !== 0) this._roots--;
      if (byBytes) this._counters.spansEvictedByBytes++;
    }
    this._state[i] = 0;
    this._headSeq++;
    if (this._length === 0) this._bytes = 0;
  }

  /** Removes a live record (taken by a flush or gone by age); its bytes stay until overwritten. */
  remove(seq: number): void {
    const i = slotOf(seq, this.capacity);
    if (!this.isLive(seq)) return;
    if ((this._state[i]! & ROOT) !== 0) this._roots--;
    this._state[i] = 0;
    this._length--;
    this._bytes -= this._len[i]!;
    this._forgetX(this._xlen[i]!);
    if (this._length === 0) this._bytes = 0;
    while (
      this._headSeq < this._tailSeq &&
      (this._state[slotOf(this._headSeq, this.capacity)]! & LIVE) === 0
    ) {
      this._headSeq++;
    }
  }

  /** The end time of the oldest record not yet checked for age; Infinity when none. */
  ageTime(): number {
    const seq = Math.max(this._ageSeq, this._headSeq);
    return seq < this._tailSeq ? this._time[slotOf(seq, this.capacity)]! : Infinity;
  }

  /**
   * Records that ended before `cutoff` go, oldest first, except those whose
   * trace has a local root open: they stay where they are, marked PINNED,
   * so the whole trace can still leave together, until their root closes or
   * the tail laps round to them (bytes evict pinned records too, oldest
   * first). Each record is checked once: O(1) amortized.
   */
  evictOlderThan(cutoff: number): void {
    let seq = Math.max(this._ageSeq, this._headSeq);
    while (seq < this._tailSeq) {
      const i = slotOf(seq, this.capacity);
      const state = this._state[i]!;
      if ((state & LIVE) !== 0) {
        if (this._time[i]! >= cutoff) break;
        if ((state & OPEN) !== 0) this._state[i] = state | PINNED;
        else {
          this.remove(seq);
          this._counters.spansEvictedByAge++;
        }
      }
      seq++;
    }
    this._ageSeq = seq;
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
      slotOf(this._headSeq, this.capacity),
      this._tailSeq - this._headSeq,
      mark,
      this._dicts,
      { length: this._length, bytes: this._bytes },
      { length: this._length, xbytes: this._xbytes, shortX: this._shortX, longX: this._longX },
    );
    this._xbytes = 0;
    this._shortX = new Uint32Array(SHORT_XLEN);
    this._longX = 0;
    this._buf = ringBuffer(this.ringBytes);
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
    this._roots = 0;
    return run;
  }

  /**
   * Copies the live records out, oldest first, as a run (a snapshot that
   * leaves the ring as it is): all of them, or the newest whose expanded
   * bytes fit `maxBytes`.
   */
  copyWindow(mark: FlushMark, maxBytes = Number.POSITIVE_INFINITY): RecordRun {
    let from = this._headSeq;
    /** The records' and their encoded bytes, to size the copy. */
    let records = this._length;
    let encoded = this._bytes;
    if (maxBytes !== Number.POSITIVE_INFINITY) {
      let expanded = 0;
      records = encoded = 0;
      for (from = this._tailSeq; from > this._headSeq; from--) {
        const i = slotOf(from - 1, this.capacity);
        if ((this._state[i]! & LIVE) === 0) continue;
        if (expanded + this._xlen[i]! > maxBytes) break;
        expanded += this._xlen[i]!;
        encoded += this._len[i]!;
        records++;
      }
    }
    const builder = new RunBuilder(Math.max(encoded, 16), Math.max(records, 1));
    for (let seq = from; seq < this._tailSeq; seq++) {
      const i = slotOf(seq, this.capacity);
      if ((this._state[i]! & LIVE) === 0) continue;
      this.copyInto(builder, seq);
    }
    return builder.build(mark, this._dicts);
  }

  /** Copies one live record into `builder`. */
  copyInto(builder: RunBuilder, seq: number): void {
    const i = slotOf(seq, this.capacity);
    const o = this._off[i]!;
    builder.add(this._buf, o, o + this._len[i]!, this._xlen[i]!, this._pair[i]!, this._state[i]!);
  }

  /** Calls `fn` with each live record's sequence number, oldest first (cold paths only). */
  forEachLive(fn: (seq: number) => void): void {
    for (let seq = this._headSeq; seq < this._tailSeq; seq++) {
      if ((this._state[slotOf(seq, this.capacity)]! & LIVE) !== 0) fn(seq);
    }
  }

  /** Forgets every record. */
  clear(): void {
    this._state.fill(0);
    this._headSeq = this._tailSeq;
    this._tailPos = 0;
    this._length = 0;
    this._bytes = 0;
    this._xbytes = 0;
    this._shortX.fill(0);
    this._longX = 0;
    this._roots = 0;
  }
}

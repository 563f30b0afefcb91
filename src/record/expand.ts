import type { InternTable } from './intern-table.js';

/**
 * Turns a record into the plain OTLP `Span` message body it stands for, in
 * one linear pass: every interned id becomes the field it stands for (see
 * `span-encoder.ts`; all have wire type 0): a name (`Span` field 5, `Event`
 * field 2), an attribute key (`KeyValue` field 3) or a whole attribute
 * (`Span` field 9, `Event` field 3, `Link` field 4). Every other byte is
 * copied as it is. Lengths need no rewriting: the
 * encoder wrote the expanded ones. `out` must have room for the expanded
 * length the index holds. Returns the position after the expanded record.
 *
 * The flush's hot path: it walks the record's top-level fields and steps
 * over whole messages that hold no ids (an attribute's value, the status,
 * any field it does not know) without reading inside them, so its cost is a
 * few steps per field plus the bytes copied. Bytes the encoder did not write
 * are copied as they are, and nothing is read past `to`.
 */
export function expandRecord(
  src: Uint8Array,
  from: number,
  to: number,
  dict: InternTable | undefined,
  out: Uint8Array,
  at: number,
): number {
  const x = expander;
  x.src = src;
  x.out = out;
  x.p = at;
  if (dict === undefined) {
    x.slab = EMPTY;
    x.off = NO_IDS;
    x.len = NO_IDS;
    x.size = 0;
  } else {
    x.slab = dict.slab;
    x.off = dict.off;
    x.len = dict.len;
    x.size = dict.size;
  }
  x.end = to;
  x.span(from, to);
  const p = x.flushTo(to);
  x.src = EMPTY;
  x.out = EMPTY;
  x.slab = EMPTY;
  return p;
}

const EMPTY = new Uint8Array(0);
const NO_IDS = new Int32Array(0);

/** Copying a run shorter than this byte by byte is cheaper than a native call. */
const NATIVE_COPY = 128;

/** One reused instance: expanding allocates nothing. */
class Expander {
  src: Uint8Array = EMPTY;
  out: Uint8Array = EMPTY;
  /** The intern table's entries: id `k` is `slab[off[k], off[k] + len[k])`. */
  slab: Uint8Array = EMPTY;
  off: Int32Array = NO_IDS;
  len: Int32Array = NO_IDS;
  size = 0;
  /** Next output position. */
  p = 0;
  /** Next source byte to read. */
  i = 0;
  /** Start of the source bytes read but not yet copied. */
  run = 0;
  /** End of the record: nothing is read past it, whatever the bytes say. */
  end = 0;

  private _varint(): number {
    const src = this.src;
    let b = src[this.i++]!;
    if (b < 0x80) return b;
    let value = b & 0x7f;
    let scale = 0x80;
    do {
      b = src[this.i++]!;
      value += (b & 0x7f) * scale;
      scale *= 0x80;
    } while (b >= 0x80 && this.i < this.end);
    return value;
  }

  /** Copies the pending source bytes up to `end`. */
  flushTo(end: number): number {
    const from = this.run;
    const n = end - from;
    if (n > 0) {
      const src = this.src;
      const out = this.out;
      let p = this.p;
      if (n < NATIVE_COPY) {
        for (let k = from; k < end; k++) out[p++] = src[k]!;
      } else {
        out.set(src.subarray(from, end), p);
        p += n;
      }
      this.p = p;
    }
    this.run = end;
    return this.p;
  }

  /**
   * Replaces the id field whose tag is at `tagAt` (`this.i` just past the
   * tag) by `tag` and the string; returns the bytes the record grew by.
   */
  private _expand(tagAt: number, tag: number): number {
    const id = this._varint();
    // An id no table knows (never written by the encoder): left as it is.
    if (id >= this.size) return 0;
    this.flushTo(tagAt);
    const out = this.out;
    const slab = this.slab;
    let p = this.p;
    out[p++] = tag;
    const from = this.off[id]!;
    const n = this.len[id]!;
    if (n < NATIVE_COPY) for (let k = from, e = from + n; k < e; k++) out[p++] = slab[k]!;
    else {
      out.set(slab.subarray(from, from + n), p);
      p += n;
    }
    this.p = p;
    this.run = this.i;
    return n + 1 - (this.i - tagAt);
  }

  /** Steps over a field of wire type `wt` whose tag was just read. */
  private _skip(wt: number): void {
    if (wt === 0) this._varint();
    else if (wt === 1) this.i += 8;
    else if (wt === 2) {
      const n = this._varint();
      this.i += n;
    } else if (wt === 5) this.i += 4;
    // Not a record the encoder wrote: copy the rest as it is.
    else this.i = this.end;
  }

  /**
   * A `KeyValue` (length just read as `claimed`, the expanded one): only its
   * key can be an id, and its first field; the value is stepped over whole.
   */
  private _keyValue(claimed: number): number {
    const start = this.i;
    if (this.src[start] !== 0x18) {
      this.i = start + claimed;
      return 0;
    }
    this.i = start + 1;
    const grown = this._expand(start, 0x0a);
    if (grown === 0) {
      this.i = start + claimed;
      return 0;
    }
    this.i = start + claimed - grown;
    return grown;
  }

  /** An `Event` or `Link` (length just read as `claimed`); returns the bytes it grew by. */
  private _nested(claimed: number, event: boolean): number {
    const start = this.i;
    const end = this.end;
    let grown = 0;
    while (this.i - start + grown < claimed && this.i < end) {
      const tagAt = this.i;
      const tag = this.src[this.i++]!;
      if (event && tag === 0x10) grown += this._expand(tagAt, 0x12);
      else if (event && tag === 0x18) grown += this._expand(tagAt, 0x1a);
      else if (!event && tag === 0x20) grown += this._expand(tagAt, 0x22);
      else if ((event && tag === 0x1a) || (!event && tag === 0x22)) {
        grown += this._keyValue(this._varint());
      } else if (tag >= 0x80) {
        this.i = tagAt;
        this._skip(this._varint() & 7);
      } else this._skip(tag & 7);
    }
    return grown;
  }

  span(from: number, to: number): void {
    this.i = from;
    this.run = from;
    this.end = to;
    const src = this.src;
    while (this.i < to) {
      const tagAt = this.i;
      const tag = src[this.i++]!;
      switch (tag) {
        case 0x4a:
          this._keyValue(this._varint());
          break;
        case 0x48:
          this._expand(tagAt, 0x4a);
          break;
        case 0x28:
          this._expand(tagAt, 0x2a);
          break;
        case 0x5a:
          this._nested(this._varint(), true);
          break;
        case 0x6a:
          this._nested(this._varint(), false);
          break;
        case 0x39:
        case 0x41:
          this.i += 8;
          break;
        default:
          if (tag >= 0x80) {
            this.i = tagAt;
            this._skip(this._varint() & 7);
          } else this._skip(tag & 7);
      }
    }
  }
}

const expander = new Expander();

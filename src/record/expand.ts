import type { InternTable } from './intern-table.js';

/**
 * Turns a record into the plain OTLP `Span` message body it stands for, in
 * one linear pass: every interned id (`Span` field 5, `KeyValue` field 3 and
 * `Event` field 2 with wire type 0, see `span-encoder.ts`) becomes its string
 * field; every other byte is copied as it is. Lengths need no rewriting: the
 * encoder wrote the expanded ones. `out` must have room for the expanded
 * length the index holds. Returns the position after the expanded record.
 */
export function expandRecord(
  src: Uint8Array,
  from: number,
  to: number,
  dict: InternTable | undefined,
  out: Uint8Array,
  at: number,
): number {
  const x = new Expander(src, out, at, dict);
  x.span(from, to);
  return x.flushTo(to);
}

/** Copying a run shorter than this byte by byte is cheaper than a native call. */
const NATIVE_COPY = 48;

class Expander {
  /** Next source byte to read. */
  i = 0;
  /** Start of the source bytes read but not yet copied. */
  private _run = 0;

  constructor(
    private readonly _src: Uint8Array,
    private readonly _out: Uint8Array,
    private _p: number,
    private readonly _dict: InternTable | undefined,
  ) {}

  private _varint(): number {
    const src = this._src;
    let b = src[this.i++]!;
    if (b < 0x80) return b;
    let value = b & 0x7f;
    let shift = 7;
    do {
      b = src[this.i++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b >= 0x80);
    return value;
  }

  /** Copies the pending source bytes up to `end`. */
  flushTo(end: number): number {
    const n = end - this._run;
    if (n > 0) {
      const src = this._src;
      const out = this._out;
      if (n < NATIVE_COPY) {
        let p = this._p;
        for (let k = this._run; k < end; k++) out[p++] = src[k]!;
        this._p = p;
      } else {
        out.set(src.subarray(this._run, end), this._p);
        this._p += n;
      }
    }
    this._run = end;
    return this._p;
  }

  /** Replaces the id field starting at `this.i - 1` (its tag read) by `tag` and the string. */
  private _expand(tagAt: number, tag: number): number {
    const id = this._varint();
    const entry = this._dict?.entries[id];
    // An id no table knows (never written by the encoder): left as it is.
    if (entry === undefined) return 0;
    this.flushTo(tagAt);
    const out = this._out;
    let p = this._p;
    out[p++] = tag;
    const n = entry.length;
    if (n < NATIVE_COPY) for (let k = 0; k < n; k++) out[p++] = entry[k]!;
    else {
      out.set(entry, p);
      p += n;
    }
    this._p = p;
    this._run = this.i;
    return entry.length + 1 - (this.i - tagAt);
  }

  /** End of the record: nothing is read past it, whatever the bytes say. */
  private _end = 0;

  private _skip(wt: number): void {
    if (wt === 0) this._varint();
    else if (wt === 1) this.i += 8;
    else if (wt === 2) {
      const n = this._varint();
      this.i += n;
    } else if (wt === 5) this.i += 4;
    // Not a record the encoder wrote: copy the rest as it is.
    else this.i = this._end;
  }

  /** A length-delimited message whose written length is `claimed` (expanded); returns the bytes it grew by. */
  private _message(kind: 'kv' | 'event' | 'link'): number {
    const claimed = this._varint();
    const start = this.i;
    let grown = 0;
    while (this.i - start + grown < claimed && this.i < this._end) {
      const tagAt = this.i;
      const tag = this._varint();
      if (kind === 'kv' && tag === 0x18) grown += this._expand(tagAt, 0x0a);
      else if (kind === 'event' && tag === 0x10) grown += this._expand(tagAt, 0x12);
      else if ((kind === 'event' && tag === 0x1a) || (kind === 'link' && tag === 0x22)) {
        grown += this._message('kv');
      } else this._skip(tag & 7);
    }
    return grown;
  }

  span(from: number, to: number): void {
    this.i = from;
    this._run = from;
    this._end = to;
    while (this.i < to) {
      const tagAt = this.i;
      const tag = this._varint();
      if (tag === 0x28) this._expand(tagAt, 0x2a);
      else if (tag === 0x4a) this._message('kv');
      else if (tag === 0x5a) this._message('event');
      else if (tag === 0x6a) this._message('link');
      else this._skip(tag & 7);
    }
  }
}

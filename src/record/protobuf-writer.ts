/**
 * A protobuf writer over a caller's byte range, modelled on
 * `@opentelemetry/otlp-transformer`'s private `ProtobufWriter`, which is not
 * exported. It never grows: writing past `end` throws {@link WriterFull}, so
 * the ring can start a new lap (or a caller can grow its scratch buffer) and
 * try again. Nested messages reserve one length byte and shift their content
 * when the length needs more, as upstream does.
 *
 * Strings are written as UTF-8 exactly as the SDK's serializer writes them:
 * ASCII byte by byte, anything else through `Buffer#write`, which, like
 * `TextEncoder`, turns a lone surrogate into U+FFFD.
 */

/** Thrown when a write would pass the writer's `end`. A constant: throwing allocates nothing. */
export const WriterFull: { readonly full: true } = Object.freeze({ full: true });

/** Strings at least this long are copied by one native call rather than char by char. */
const NATIVE_COPY_CHARS = 48;

export class ProtobufWriter {
  buf: Uint8Array;
  /** The same memory as `buf`, for native UTF-8 writes. */
  private _native: Buffer;
  /** The same memory as `buf`, for multi-byte writes by callers that checked the room. */
  view: DataView;
  pos = 0;
  end: number;
  /**
   * Bytes the record will gain when its interned strings are expanded at
   * flush (see `intern-table.ts`); nested lengths count them, so expanding
   * never re-frames a message.
   */
  extra = 0;
  /** Set when the encoder wrote a value it had to sanitize: the span needs `repair`. */
  suspect = false;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this._native = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = buf.length;
  }

  /** Points the writer at another buffer (a ring swap or a grown scratch buffer). */
  reset(buf: Uint8Array, pos = 0, end = buf.length): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this._native = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.pos = pos;
    this.end = end;
  }

  private _room(n: number): void {
    if (this.pos + n > this.end) throw WriterFull;
  }

  /** A one-byte value: a tag of a field below 16 or a small varint. */
  byte(b: number): void {
    if (this.pos >= this.end) throw WriterFull;
    this.buf[this.pos++] = b;
  }

  /** Two raw bytes, such as the tag of field 16. */
  bytes2(a: number, b: number): void {
    const p = this.pos;
    if (p + 2 > this.end) throw WriterFull;
    const buf = this.buf;
    buf[p] = a;
    buf[p + 1] = b;
    this.pos = p + 2;
  }

  /** A non-negative integer below 2^32 as a varint. */
  varint32(value: number): void {
    let v = value >>> 0;
    let p = this.pos;
    if (p + 5 > this.end) throw WriterFull;
    const buf = this.buf;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p++] = v;
    this.pos = p;
  }

  /**
   * A one-byte tag and a varint below 2^32: a varint field, such as a
   * reference to an interned entry, in one bounds check.
   */
  tagVarint32(tag: number, value: number): void {
    let v = value >>> 0;
    let p = this.pos;
    if (p + 6 > this.end) throw WriterFull;
    const buf = this.buf;
    buf[p++] = tag;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p++] = v;
    this.pos = p;
  }

  /** Any integer in the int64 range, two's complement when negative (10 bytes), as upstream. */
  varint64(value: number): void {
    if (value >= 0 && value <= 0xffffffff) {
      this.varint32(value);
      return;
    }
    this._room(10);
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 0x100000000) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 0x100000000) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    const buf = this.buf;
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 0x7f;
  }

  fixed32(value: number): void {
    const p = this.pos;
    if (p + 4 > this.end) throw WriterFull;
    const v = value >>> 0;
    const buf = this.buf;
    buf[p] = v & 0xff;
    buf[p + 1] = (v >>> 8) & 0xff;
    buf[p + 2] = (v >>> 16) & 0xff;
    buf[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  fixed64(low: number, high: number): void {
    this._room(8);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = low & 0xff;
    buf[p++] = (low >>> 8) & 0xff;
    buf[p++] = (low >>> 16) & 0xff;
    buf[p++] = low >>> 24;
    buf[p++] = high & 0xff;
    buf[p++] = (high >>> 8) & 0xff;
    buf[p++] = (high >>> 16) & 0xff;
    buf[p++] = high >>> 24;
    this.pos = p;
  }

  double(value: number): void {
    this._room(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** Length-delimited raw bytes. */
  lengthBytes(bytes: Uint8Array): void {
    this.varint32(bytes.length);
    this._room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Raw bytes with no length prefix (pre-encoded fields). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this._room(n);
    if (n <= 32) {
      // Ids and short fields: a loop is cheaper than a native call.
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = bytes[i]!;
      this.pos = p;
      return;
    }
    this.buf.set(bytes, this.pos);
    this.pos += n;
  }

  /**
   * `n` bytes parsed from `hex` by `parse` straight into the buffer (no copy
   * through a scratch array); returns what `parse` returns.
   */
  parsed(
    hex: string,
    n: number,
    parse: (hex: string, out: Uint8Array, at: number, n: number) => boolean,
  ): boolean {
    const p = this.pos;
    if (p + n > this.end) throw WriterFull;
    const valid = parse(hex, this.buf, p, n);
    this.pos = p + n;
    return valid;
  }

  /** A length-delimited UTF-8 string. */
  string(s: string): void {
    const n = s.length;
    if (n < NATIVE_COPY_CHARS) {
      // ASCII fast path: one length byte, one byte per char.
      const start = this.pos;
      if (start + 1 + n <= this.end) {
        const buf = this.buf;
        let p = start + 1;
        let i = 0;
        for (; i < n; i++) {
          const c = s.charCodeAt(i);
          if (c > 0x7f) break;
          buf[p++] = c;
        }
        if (i === n) {
          buf[start] = n;
          this.pos = p;
          return;
        }
      }
    }
    this._nativeString(s);
  }

  private _nativeString(s: string): void {
    const n = s.length;
    // Upper bound first: no native call for the exact size when it surely fits.
    let size = n * 3;
    if (this.pos + 5 + size > this.end) {
      size = Buffer.byteLength(s, 'utf8');
      if (this.pos + varintSize(size) + size > this.end) throw WriterFull;
    }
    const lenPos = this.pos;
    const reserved = varintSize(size);
    const written = this._native.write(s, lenPos + reserved, size, 'utf8');
    const needed = varintSize(written);
    if (needed < reserved) {
      this.buf.copyWithin(lenPos + needed, lenPos + reserved, lenPos + reserved + written);
    }
    this.pos = lenPos;
    this.varint32(written);
    this.pos = lenPos + needed + written;
  }

  /** Reserves one length byte for a nested message; returns where it is. */
  start(): number {
    if (this.pos >= this.end) throw WriterFull;
    return this.pos++;
  }

  /**
   * Writes the length of the message opened at `at`, shifting it when the
   * length needs more than one byte. `extraAtStart` is `extra` when the
   * message was opened: the length written is the expanded one.
   */
  finish(at: number, extraAtStart = this.extra): void {
    const length = this.pos - at - 1 + this.extra - extraAtStart;
    if (length < 0x80) {
      this.buf[at] = length;
      return;
    }
    const size = varintSize(length);
    const extra = size - 1;
    this._room(extra);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    this.pos += extra;
    let v = length;
    let p = at;
    const buf = this.buf;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p] = v;
  }
}

/** Bytes a varint of `v` (0 ≤ v < 2^32) takes. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Writes a varint of `v` (0 ≤ v < 2^32) at `pos` in `buf`; returns the position after it. */
export function putVarint(buf: Uint8Array, pos: number, v: number): number {
  let x = v >>> 0;
  while (x > 0x7f) {
    buf[pos++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  buf[pos++] = x;
  return pos;
}

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
 * are copied as they are, and the copy ends at `to`.
 *
 * Written as flat loops over local variables (no per-field method calls or
 * object fields), because this is where a flush spends its CPU.
 */
export function expandRecord(
  src: Uint8Array,
  from: number,
  to: number,
  dict: InternTable | undefined,
  out: Uint8Array,
  at: number,
): number {
  if (dict === undefined || dict.size === 0) return copy(src, from, to, out, at);
  const slab = dict.slab;
  if (slab !== slabArray) {
    slabArray = slab;
    slabView = viewOf(slab);
  }
  const offs = dict.off;
  const lens = dict.len;
  const size = dict.size;
  let i = from;
  let run = from;
  let p = at;
  while (i < to) {
    const tagAt = i;
    const tag = src[i++]!;
    if (tag === 0x48 || tag === 0x28) {
      // A whole span attribute (field 9) or the span's name (field 5), by id:
      // most ids are one byte.
      let id = src[i++]!;
      if (id >= 0x80) {
        state.i = i - 1;
        id = varint(src, to);
        i = state.i;
      }
      if (id >= size) continue;
      if (tagAt > run) p = copy(src, run, tagAt, out, p);
      out[p++] = tag + 2;
      const o = offs[id]!;
      p = copy(slab, o, o + lens[id]!, out, p);
      run = i;
    } else if (tag === 0x4a && src[i]! < 0x80 && src[i + 1] === 0x18 && src[i + 2]! < 0x80) {
      // The usual KeyValue: a one-byte length, then its key by a one-byte id
      // (see keyValue, which this is in line).
      const start = i + 1;
      const id = src[i + 2]!;
      if (id < size) {
        if (start > run) p = copy(src, run, start, out, p);
        out[p++] = 0x0a;
        const o = offs[id]!;
        const n = lens[id]!;
        p = copy(slab, o, o + n, out, p);
        run = start + 2;
        // The length is the expanded one: the key grew by n - 1 bytes. One
        // that ends before the key (never written by the encoder) would
        // step back: the rest is copied as it is, so the walk always ends.
        const next = start + src[i]! - (n - 1);
        i = next >= run ? next : to;
      } else i = start + src[i]!;
    } else if (tag === 0x4a || tag === 0x5a || tag === 0x6a) {
      // A KeyValue, an Event or a Link: length-delimited, the expanded length.
      state.i = i;
      const claimed = varint(src, to);
      state.p = p;
      state.run = run;
      if (tag === 0x4a) keyValue(src, claimed, to, slab, offs, lens, size, out);
      else nested(src, claimed, to, tag === 0x5a, slab, offs, lens, size, out);
      i = state.i;
      p = state.p;
      run = state.run;
    } else if (tag < 0x80) {
      // Any other one-byte tag (ids, times, kind, status, the dropped
      // counts) is stepped over by its wire type, in line.
      const wt = tag & 7;
      if (wt === 2) {
        const n = src[i]!;
        if (n < 0x80) i += 1 + n;
        else {
          state.i = i;
          const length = varint(src, to);
          i = state.i + length;
        }
      } else if (wt === 1) i += 8;
      else if (wt === 0) {
        while (i < to && src[i++]! >= 0x80);
      } else if (wt === 5) i += 4;
      else i = skip(src, tagAt, to);
    } else {
      i = skip(src, tagAt, to);
    }
  }
  p = copy(src, run, to, out, p);
  return p;
}

/** Copying a run shorter than this four bytes at a time is cheaper than a native call. */
const NATIVE_COPY = 160;

const EMPTY: Uint8Array = new Uint8Array(0);
/** DataViews of the arrays last copied from and to, so a record's copies make none. */
let fromArray: Uint8Array = EMPTY;
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
let fromView: DataView = EMPTY_VIEW;
let slabArray: Uint8Array = EMPTY;
let slabView = fromView;
let outArray: Uint8Array = EMPTY;
let outView = fromView;

/**
 * Lets go of the arrays the copies last used (a ring, a table's slab, a
 * request), so a module-level cache never keeps a flushed window or an
 * exported request alive. Called once a batch of records has been expanded.
 */
export function releaseExpandViews(): void {
  fromArray = slabArray = outArray = EMPTY;
  fromView = slabView = outView = EMPTY_VIEW;
}

function viewOf(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Copies `src[from, to)` to `out` at `p`; returns the position after it.
 * Short runs (most of a record: tags, lengths, ids, short strings) go
 * through DataViews, eight bytes a turn (little-endian, as x86 and Arm are,
 * so no byte swaps), several times as fast as byte by byte and far cheaper
 * than a native call, which allocates a view per run. `src` and `out` are
 * never the same array.
 */
function copy(src: Uint8Array, from: number, to: number, out: Uint8Array, p: number): number {
  const n = to - from;
  if (n <= 0) return p;
  if (n >= NATIVE_COPY) {
    out.set(src.subarray(from, to), p);
    return p + n;
  }
  if (n < 8) {
    for (let k = from; k < to; k++) out[p++] = src[k]!;
    return p;
  }
  let sv: DataView;
  if (src === fromArray) sv = fromView;
  else if (src === slabArray) sv = slabView;
  else {
    fromArray = src;
    sv = fromView = viewOf(src);
  }
  if (out !== outArray) {
    outArray = out;
    outView = viewOf(out);
  }
  const ov = outView;
  // Eight bytes a turn, then four, then the last 1–3 bytes as the run's last
  // four again (n >= 8, so they are inside it): the same bytes rewritten.
  let k = from;
  for (const last = to - 8; k <= last; k += 8, p += 8) {
    ov.setInt32(p, sv.getInt32(k, true), true);
    ov.setInt32(p + 4, sv.getInt32(k + 4, true), true);
  }
  if (k + 4 <= to) {
    ov.setInt32(p, sv.getInt32(k, true), true);
    k += 4;
    p += 4;
  }
  const rest = to - k;
  if (rest > 0) {
    ov.setInt32(p + rest - 4, sv.getInt32(to - 4, true), true);
    p += rest;
  }
  return p;
}

/**
 * The walk's position, shared with the helpers for nested messages (a
 * KeyValue, an Event, a Link), which are rarer than plain fields: the read
 * position, the start of the bytes read but not yet copied, and the next
 * output position.
 */
const state = { i: 0, run: 0, p: 0 };

/** Reads a varint at `state.i`, not past `end`. */
function varint(src: Uint8Array, end: number): number {
  let i = state.i;
  let b = src[i++]!;
  if (b < 0x80) {
    state.i = i;
    return b;
  }
  let value = b & 0x7f;
  let scale = 0x80;
  do {
    b = src[i++]!;
    value += (b & 0x7f) * scale;
    scale *= 0x80;
  } while (b >= 0x80 && i < end);
  state.i = i;
  return value;
}

/** Steps over the field whose tag starts at `tagAt`; returns the position after it. */
function skip(src: Uint8Array, tagAt: number, end: number): number {
  state.i = tagAt;
  const wt = varint(src, end) & 7;
  if (wt === 0) varint(src, end);
  else if (wt === 1) state.i += 8;
  else if (wt === 2) {
    const n = varint(src, end);
    state.i += n;
  } else if (wt === 5) state.i += 4;
  // Not a record the encoder wrote: copy the rest as it is.
  else state.i = end;
  return state.i;
}

/**
 * Replaces the id field whose tag is at `tagAt` (`state.i` just past the
 * tag) by `tag` and the entry's bytes; returns the bytes the record grew by.
 */
function expandId(
  src: Uint8Array,
  tagAt: number,
  tag: number,
  end: number,
  slab: Uint8Array,
  offs: Int32Array,
  lens: Int32Array,
  size: number,
  out: Uint8Array,
): number {
  const id = varint(src, end);
  // An id no table knows (never written by the encoder): left as it is.
  if (id >= size) return 0;
  let p = copy(src, state.run, tagAt, out, state.p);
  out[p++] = tag;
  const o = offs[id]!;
  const n = lens[id]!;
  p = copy(slab, o, o + n, out, p);
  state.p = p;
  state.run = state.i;
  return n + 1 - (state.i - tagAt);
}

/**
 * A `KeyValue` (its length just read as `claimed`, the expanded one): only
 * its key can be an id, and its first field; the value is stepped over whole.
 */
function keyValue(
  src: Uint8Array,
  claimed: number,
  end: number,
  slab: Uint8Array,
  offs: Int32Array,
  lens: Int32Array,
  size: number,
  out: Uint8Array,
): number {
  const start = state.i;
  if (src[start] !== 0x18) {
    state.i = start + claimed;
    return 0;
  }
  state.i = start + 1;
  const grown = expandId(src, start, 0x0a, end, slab, offs, lens, size, out);
  const next = start + claimed - grown;
  // As in expandRecord: a length that ends before the key would step back.
  state.i = next >= state.i ? next : end;
  return grown;
}

/** An `Event` or `Link` (its length just read as `claimed`); returns the bytes it grew by. */
function nested(
  src: Uint8Array,
  claimed: number,
  end: number,
  event: boolean,
  slab: Uint8Array,
  offs: Int32Array,
  lens: Int32Array,
  size: number,
  out: Uint8Array,
): number {
  const start = state.i;
  let grown = 0;
  while (state.i - start + grown < claimed && state.i < end) {
    const tagAt = state.i;
    const tag = src[state.i++]!;
    if (event && tag === 0x10)
      grown += expandId(src, tagAt, 0x12, end, slab, offs, lens, size, out);
    else if (event && tag === 0x18)
      grown += expandId(src, tagAt, 0x1a, end, slab, offs, lens, size, out);
    else if (!event && tag === 0x20)
      grown += expandId(src, tagAt, 0x22, end, slab, offs, lens, size, out);
    else if ((event && tag === 0x1a) || (!event && tag === 0x22)) {
      const n = varint(src, end);
      grown += keyValue(src, n, end, slab, offs, lens, size, out);
    } else skip(src, tagAt, end);
  }
  return grown;
}

import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../marks.js';
import { MAX_VALUE_DEPTH } from '../size-estimate.js';
import {
  type AttributeShape,
  cacheableValue,
  type InternTable,
  type KeyEntry,
  MAX_SHAPE_KEYS,
  VALUES_PER_KEY,
} from './intern-table.js';
import { type ProtobufWriter, putVarint, varintSize, WriterFull } from './protobuf-writer.js';

/**
 * Encodes an ended span as the body of an OTLP protobuf `Span` message, field
 * for field as `ProtobufTraceSerializer` writes it (same order, same skipped
 * defaults, `flags` last), so a record is the very bytes the SDK would send.
 * Only hostile values differ, because the SDK would write garbage or throw:
 *
 * - a time that is not a finite, non-negative HrTime within uint64 nanoseconds
 *   is written as 0;
 * - an id that is not hex of the right length is written as the bytes the SDK's
 *   `hexToBinary` makes of it, cut or zero-padded to 16 or 8 bytes (the SDK
 *   throws on an odd length, failing the whole batch);
 * - attribute values nested deeper than {@link MAX_DEPTH} are written empty;
 * - attributes named like the flush marks are left out: the marks replace them.
 *
 * With an intern table, the keys of the span's, events' and links' attributes
 * and the span and event names are written as ids in fields of wire type 0
 * that OTLP does not use there (`KeyValue` 3, `Span` 5, `Event` 2); the
 * enclosing lengths count the expanded strings, so `expandRecord` turns the
 * record into plain OTLP in one linear pass.
 *
 * `flags` is always written, as the last 4 bytes of the record, so a flush can
 * set the sampled bit in place.
 */

/** Nesting deeper than this (arrays, kvlists) is written as an empty value, as `sanitize.ts` bounds it. */
export const MAX_DEPTH = MAX_VALUE_DEPTH;

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;
/** Seconds past which nanoseconds overflow uint64. */
const MAX_SECONDS = 18_446_744_072;

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/**
 * The last ids parsed, so the spans of one trace (and siblings of one parent)
 * convert hex once: the first span of a trace misses, the rest compare strings.
 */
class IdCache {
  private _hex = '';
  private _valid = false;
  private readonly _bytes: Uint8Array;
  private readonly _view: DataView;

  constructor(private readonly _size: number) {
    this._bytes = new Uint8Array(_size);
    this._view = new DataView(this._bytes.buffer);
  }

  /**
   * Writes the id's bytes at `at` in `view` (the caller checked the room);
   * returns whether the id is valid.
   */
  put(view: DataView, at: number, hex: string): boolean {
    if (hex !== this._hex) {
      this._valid = parseId(hex, this._bytes, 0, this._size);
      this._hex = hex;
    }
    const src = this._view;
    for (let i = 0; i < this._size; i += 4) view.setInt32(at + i, src.getInt32(i));
    return this._valid;
  }
}

/** Each char code's hex digit value (0-9a-fA-F), -1 for anything else. */
const NIBBLE = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) NIBBLE[48 + c] = c;
for (let c = 0; c < 6; c++) {
  NIBBLE[97 + c] = 10 + c;
  NIBBLE[65 + c] = 10 + c;
}

/** The value of hex digit `c` (a char code), -1 for anything else. */
export function nibble(c: number): number {
  return c < 256 ? NIBBLE[c]! : -1;
}

/**
 * Parses hex into the `n` bytes of `out` from `at`; anything else becomes
 * what the SDK's hexToBinary makes of it, sized to `n`. Returns whether the
 * id was valid: hex of the right length, not all zeros.
 */
function parseId(hex: string, out: Uint8Array, at: number, n: number): boolean {
  if (typeof hex !== 'string') hex = '';
  let valid = hex.length === 2 * n;
  let nonZero = 0;
  for (let i = 0; i < n; i++) {
    const a = hex.charCodeAt(2 * i);
    const b = hex.charCodeAt(2 * i + 1);
    const hi = nibble(a);
    const lo = nibble(b);
    let byte: number;
    if (hi >= 0 && lo >= 0) {
      byte = (hi << 4) | lo;
    } else if (Number.isNaN(a) || Number.isNaN(b)) {
      byte = 0;
      valid = false;
    } else {
      // As the SDK's intValue: anything not 0-9a-f is `code - 55`.
      byte = (((hi >= 0 ? hi : a - 55) << 4) | (lo >= 0 ? lo : b - 55)) & 0xff;
      valid = false;
    }
    out[at + i] = byte;
    nonZero |= byte;
  }
  return valid && nonZero !== 0;
}

/**
 * Writes the usual HrTime (integer seconds below 2^32, nanoseconds below 1e9)
 * as fixed64 nanoseconds at `at` in `view` (the caller checked the room), the
 * same result as the SDK's arithmetic in fewer steps: s * 1e9 + ns split as
 * (s >>> 16) * 1e9 * 2^16 + (s & 0xffff) * 1e9 + ns. Returns false, writing
 * nothing, for any other value: {@link writeTime} handles those.
 */
function putTime(view: DataView, at: number, t: HrTime | undefined): boolean {
  const s = t?.[0];
  const ns = t?.[1];
  if (
    typeof s !== 'number' ||
    typeof ns !== 'number' ||
    s >>> 0 !== s ||
    ns >>> 0 !== ns ||
    ns >= 1e9
  ) {
    return false;
  }
  const x = (s >>> 16) * 1e9;
  const q = Math.floor(x / 0x10000);
  const z = (x - q * 0x10000) * 0x10000 + (s & 0xffff) * 1e9 + ns;
  view.setUint32(at, z >>> 0, true);
  view.setUint32(at + 4, q + Math.floor(z / 0x100000000), true);
  return true;
}

/**
 * Writes HrTime as fixed64 nanoseconds with the SDK's carry arithmetic
 * (`writeHrTimeAsFixed64`), or 0 when the time is not one.
 */
export function writeTime(w: ProtobufWriter, t: HrTime | undefined): void {
  const p = w.pos;
  if (p + 8 > w.end) throw WriterFull;
  if (putTime(w.view, p, t)) {
    w.pos = p + 8;
    return;
  }
  const s = t?.[0];
  const ns = t?.[1];
  if (
    typeof s !== 'number' ||
    typeof ns !== 'number' ||
    !(s >= 0 && s <= MAX_SECONDS) ||
    !(ns >= 0 && ns < 4e9)
  ) {
    w.suspect = true;
    w.fixed64(0, 0);
    return;
  }
  // Valid for the SDK's arithmetic, yet not what `sanitize.ts` keeps.
  if (ns > 1e9 || !Number.isInteger(s) || !Number.isInteger(ns)) w.suspect = true;
  const lower = (s & 0xffff) * 1e9;
  const upper = ((s / 0x10000) >>> 0) * 1e9;
  const lowWithCarry = (lower >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0) + ns;
  const high =
    (Math.floor(lower / 0x100000000) +
      ((upper / 0x10000) >>> 0) +
      Math.floor(lowWithCarry / 0x100000000)) >>>
    0;
  w.fixed64(lowWithCarry >>> 0, high);
}

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return ((traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0)) >>> 0;
}

function isMark(key: string): boolean {
  const n = key.length;
  return (
    (n === SNAPSHOT_ID_ATTRIBUTE.length && key === SNAPSHOT_ID_ATTRIBUTE) ||
    (n === TRIGGER_ATTRIBUTE.length && key === TRIGGER_ATTRIBUTE)
  );
}

/**
 * Writes `s` as an interned id with tag `refTag`, or inline with `tag`;
 * returns the attribute shape of what it names (see {@link AttributeShape}).
 */
function writeName(
  w: ProtobufWriter,
  s: string,
  tag: number,
  refTag: number,
  dict: InternTable | undefined,
): AttributeShape | undefined {
  const id = dict === undefined ? -1 : dict.idOf(s);
  if (id < 0) {
    w.byte(tag);
    w.string(s);
    return undefined;
  }
  writeRef(w, refTag, id, dict!);
  return dict!.shape(id);
}

/** Writes interned entry `id` as field `refTag` (wire type 0), counting what expanding it adds. */
function writeRef(w: ProtobufWriter, refTag: number, id: number, dict: InternTable): void {
  w.tagVarint32(refTag, id);
  w.extra += dict.len[id]! - varintSize(id);
}

/**
 * Writes `attributes` as repeated KeyValue with the one-byte tag `tag`. With
 * an intern table, keys are written as ids and an attribute whose value
 * repeats as the id of the whole attribute (field `tag - 2`, wire type 0).
 */
export function writeAttributes(
  w: ProtobufWriter,
  attributes: Attributes | undefined,
  tag: number,
  skipMarks: boolean,
  dict?: InternTable,
  shape?: AttributeShape,
): void {
  if (attributes === undefined || attributes === null) return;
  let k = 0;
  /** What expanding the references written from shapes adds, given to `w.extra` at the end. */
  let extras = 0;
  for (const key in attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    const value = attributes[key];
    let entry: KeyEntry | undefined;
    /** This attribute's position in `shape`, or -1. */
    let at = -1;
    // A shape never holds a mark's key (see below), so a key that matches
    // its position is known not to be one without comparing it.
    if (shape !== undefined && k < MAX_SHAPE_KEYS && (k > 0 || !isMark(key))) {
      if (k === 0) shape = shape.select(key);
      else if (k < shape.keys.length && shape.keys[k] !== key && !isMark(key)) {
        // Another key order of this name parts from this one here.
        shape = shape.branch(k, key);
      }
      // Spans of one name mostly set the same keys in the same order: a
      // pointer compare (keys are internalized) instead of a Map lookup.
      // (Bounded first: an index past the end would read undefined, and the
      // compare would then stop being a pointer compare.)
      if (k < shape.keys.length && shape.keys[k] === key) {
        // The same value as last time at this position: its interned id.
        const ref = shape.refs[k]!;
        if (ref >= 0 && shape.values[k] === value) {
          w.tagVarint32(tag - 2, ref);
          extras += shape.extras[k]!;
          k++;
          continue;
        }
        entry = shape.entries[k];
        at = k++;
      } else if (isMark(key)) {
        if (skipMarks) continue;
        entry = dict!.key(key);
      } else {
        entry = dict!.key(key);
        if (entry !== undefined) shape.set(k, key, entry);
        at = k++;
      }
    } else {
      if (skipMarks && isMark(key)) continue;
      entry = dict === undefined ? undefined : dict.key(key);
    }
    if (entry === undefined) {
      writeKeyValue(w, tag, key, value);
      continue;
    }
    // The last values of this key: a repeated one is written as one id.
    let seen = -1;
    const cacheable = cacheableValue(value);
    const lookup = cacheable && entry.probe();
    if (lookup) {
      const values = entry.values;
      if (values[entry.hit] === value) seen = entry.hit;
      else {
        for (let v = 0; v < VALUES_PER_KEY; v++) {
          if (values[v] === value) {
            seen = v;
            entry.hit = v;
            break;
          }
        }
      }
      entry.found(seen >= 0);
      if (seen >= 0 && entry.ids[seen]! >= 0) {
        writeRef(w, tag - 2, entry.ids[seen]!, dict!);
        if (at >= 0) dict!.written(shape!, at, value, entry.ids[seen]!);
        continue;
      }
    } else if (cacheable && entry.ids[entry.hit]! >= 0 && entry.values[entry.hit] === value) {
      // Not looking values up now, but the interned value that matched last
      // costs one compare: a common value among unique ones stays interned.
      writeRef(w, tag - 2, entry.ids[entry.hit]!, dict!);
      if (at >= 0) dict!.written(shape!, at, value, entry.ids[entry.hit]!);
      continue;
    }
    if (seen < 0 && writeShortKeyValue(w, tag, entry.id, dict!, value)) {
      if (lookup) dict!.remember(entry, value);
      continue;
    }
    w.byte(tag);
    const extra = w.extra;
    const kv = w.start();
    writeRef(w, 0x18, entry.id, dict!);
    const valueAt = w.pos;
    writeValueField(w, value);
    const expanded = w.pos - kv - 1 + w.extra - extra;
    w.finish(kv, extra);
    if (seen >= 0) {
      // Seen twice: from now on the whole attribute is one entry.
      // finish() moved the content when the length took more than a byte.
      const valueStart = valueAt + varintSize(expanded) - 1;
      const id = dict!.addAttribute(expanded, entry.id, w.buf, valueStart, w.pos);
      if (id >= 0) {
        entry.ids[seen] = id;
        if (at >= 0) dict!.written(shape!, at, value, id);
      }
    } else if (lookup) dict!.remember(entry, value);
  }
  w.extra += extras;
}

/**
 * Writes a KeyValue of interned key `id` and a short value in one run, when
 * its expanded length fits one byte: an ASCII string, a non-negative integer
 * below 2^28, a boolean or a number the SDK writes as a double, the same
 * bytes as the general path.
 * Returns false, `w.pos` unmoved, for anything else (or when it does not
 * fit): the general path writes it then.
 */
function writeShortKeyValue(
  w: ProtobufWriter,
  tag: number,
  id: number,
  dict: InternTable,
  value: unknown,
): boolean {
  const keyLen = dict.len[id]!;
  const idSize = id < 0x80 ? 1 : 2;
  if (id >= 0x4000) return false;
  let p = w.pos;
  const buf = w.buf;
  let valueLen: number;
  const t = typeof value;
  if (t === 'string') {
    valueLen = 2 + (value as string).length;
  } else if (t === 'number') {
    const n = value as number;
    if (!Number.isInteger(n)) valueLen = 9;
    else if (n >>> 0 === n && n < 0x10000000) valueLen = 1 + varintSize(n);
    else return false;
  } else if (t === 'boolean') {
    valueLen = 2;
  } else return false;
  // The expanded KeyValue: the key field (1 + keyLen), then 0x12, a length and the AnyValue body.
  const kvLen = keyLen + valueLen + 3;
  if (kvLen >= 0x80 || p + 5 + idSize + valueLen > w.end) return false;
  buf[p] = tag;
  buf[p + 1] = kvLen;
  buf[p + 2] = 0x18;
  if (idSize === 1) {
    buf[p + 3] = id;
    p += 4;
  } else {
    buf[p + 3] = (id & 0x7f) | 0x80;
    buf[p + 4] = id >>> 7;
    p += 5;
  }
  buf[p] = 0x12;
  buf[p + 1] = valueLen;
  p += 2;
  if (t === 'string') {
    const s = value as string;
    const n = s.length;
    buf[p] = 0x0a;
    buf[p + 1] = n;
    p += 2;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return false;
      buf[p + i] = c;
    }
    p += n;
  } else if (t === 'boolean') {
    buf[p] = 0x10;
    buf[p + 1] = value ? 1 : 0;
    p += 2;
  } else if (valueLen === 9) {
    buf[p] = 0x21;
    w.view.setFloat64(p + 1, value as number, true);
    p += 9;
  } else {
    buf[p] = 0x18;
    p = putVarint(buf, p + 1, value as number);
  }
  w.pos = p;
  w.extra += keyLen - idSize;
  return true;
}

/** Writes the `value` field of a KeyValue (field 2, an AnyValue). */
/**
 * Writes a whole `KeyValue` in the field whose tag byte is `tag`, its value
 * as the SDK's serializer writes it.
 */
export function writeKeyValue(w: ProtobufWriter, tag: number, key: string, value: unknown): void {
  w.byte(tag);
  const kv = w.start();
  w.byte(0x0a);
  w.string(key);
  writeValueField(w, value);
  w.finish(kv);
}

function writeValueField(w: ProtobufWriter, value: unknown): void {
  w.byte(0x12);
  const at = w.start();
  writeAnyValue(w, value, 0);
  w.finish(at);
}

/** Writes the body of an AnyValue as the SDK decides: int64 for integers in range, double otherwise. */
export function writeAnyValue(w: ProtobufWriter, value: unknown, depth: number): void {
  const t = typeof value;
  if (t === 'string') {
    w.byte(0x0a);
    w.string(value as string);
  } else if (t === 'number') {
    const n = value as number;
    if (Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64) {
      w.byte(0x18);
      w.varint64(n);
    } else {
      w.byte(0x21);
      w.double(n);
    }
  } else if (t === 'boolean') {
    w.byte(0x10);
    w.byte(value ? 1 : 0);
  } else if (value instanceof Uint8Array) {
    w.byte(0x3a);
    w.lengthBytes(value);
  } else if (depth >= MAX_DEPTH) {
    // Too deep (or a cycle): an empty value, never unbounded recursion.
    if (t === 'object' && value !== null) w.suspect = true;
  } else if (Array.isArray(value)) {
    w.byte(0x2a);
    const array = w.start();
    for (const item of value) {
      w.byte(0x0a);
      const at = w.start();
      writeAnyValue(w, item, depth + 1);
      w.finish(at);
    }
    w.finish(array);
  } else if (t === 'object' && value !== null) {
    w.byte(0x32);
    const list = w.start();
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
      w.byte(0x0a);
      const kv = w.start();
      w.byte(0x0a);
      w.string(k);
      w.byte(0x12);
      const at = w.start();
      writeAnyValue(w, obj[k], depth + 1);
      w.finish(at);
      w.finish(kv);
    }
    w.finish(list);
  }
  // Anything else (undefined, null, functions): nothing, as the SDK.
}

function writeEvent(w: ProtobufWriter, event: TimedEvent, dict: InternTable | undefined): void {
  w.byte(0x5a);
  const extra = w.extra;
  const at = w.start();
  w.byte(0x09);
  writeTime(w, event.time);
  const shape = writeName(w, String(event.name), 0x12, 0x10, dict);
  writeAttributes(w, event.attributes, 0x1a, false, dict, shape);
  w.byte(0x20);
  w.varint32(event.droppedAttributesCount || 0);
  w.finish(at, extra);
}

function writeLink(w: ProtobufWriter, link: Link, dict: InternTable | undefined): void {
  w.byte(0x6a);
  const extra = w.extra;
  const at = w.start();
  const ctx: SpanContext = link.context;
  w.bytes2(0x0a, 16);
  if (!w.parsed(ctx.traceId, 16, parseId)) w.suspect = true;
  w.bytes2(0x12, 8);
  if (!w.parsed(ctx.spanId, 8, parseId)) w.suspect = true;
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    w.byte(0x1a);
    w.string(traceState);
  }
  writeAttributes(w, link.attributes, 0x22, false, dict);
  w.byte(0x28);
  w.varint32(link.droppedAttributesCount || 0);
  w.byte(0x35);
  w.fixed32(spanFlags(ctx.traceFlags, ctx.isRemote));
  w.finish(at, extra);
}

function count(n: unknown): number {
  return typeof n === 'number' && n >= 0 && n <= 0xffffffff ? n : 0;
}

/**
 * Writes spans' `Span` message bodies. One encoder per recorder: it holds the
 * id caches, which make the spans of one trace cheap after the first.
 */
export class SpanEncoder {
  private readonly _traceId = new IdCache(16);
  private readonly _parentId = new IdCache(8);

  /**
   * Writes the body of `span`'s Span message at `w.pos`, with names and keys
   * interned in `dict` when given; throws WriterFull when it does not fit.
   * Afterwards `w.extra` is how many bytes expanding the record adds.
   */
  encode(w: ProtobufWriter, span: ReadableSpan, ctx: SpanContext, dict?: InternTable): void {
    w.extra = 0;
    // The fixed fields go in through local positions, a bounds check per
    // run instead of per field.
    const buf = w.buf;
    const view = w.view;
    let p = w.pos;
    // Trace and span ids (2 + 16 + 2 + 8), then a parent's (2 + 8).
    if (p + 38 > w.end) throw WriterFull;
    buf[p] = 0x0a;
    buf[p + 1] = 16;
    let suspect = !this._traceId.put(view, p + 2, ctx.traceId);
    buf[p + 18] = 0x12;
    buf[p + 19] = 8;
    if (!parseId(ctx.spanId, buf, p + 20, 8)) suspect = true;
    p += 28;
    const traceState = ctx.traceState?.serialize();
    if (traceState) {
      w.pos = p;
      w.byte(0x1a);
      w.string(traceState);
      p = w.pos;
      if (p + 10 > w.end) throw WriterFull;
    }
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      buf[p] = 0x22;
      buf[p + 1] = 8;
      if (!this._parentId.put(view, p + 2, parent.spanId)) suspect = true;
      p += 10;
    }
    w.pos = p;
    w.suspect = suspect;
    const shape = writeName(
      w,
      typeof span.name === 'string' ? span.name : String(span.name),
      0x2a,
      0x28,
      dict,
    );
    // Kind (a varint below 2^32, 0 left out) and the two times (1 + 8 each).
    const kind = span.kind == null ? 0 : span.kind + 1;
    if (kind !== 0) w.tagVarint32(0x30, kind);
    p = w.pos;
    if (p + 18 > w.end) throw WriterFull;
    const start = span.startTime;
    const end = span.endTime;
    buf[p] = 0x39;
    if (!putTime(view, p + 1, start)) {
      w.pos = p + 1;
      writeTime(w, start);
    }
    buf[p + 9] = 0x41;
    if (!putTime(view, p + 10, end)) {
      w.pos = p + 10;
      writeTime(w, end);
    }
    w.pos = p + 18;
    if (end?.[0] < start?.[0] || (end?.[0] === start?.[0] && end[1] < start[1])) w.suspect = true;
    writeAttributes(w, span.attributes, 0x4a, true, dict, shape);
    w.tagVarint32(0x50, count(span.droppedAttributesCount));
    const events = span.events;
    if (events !== undefined)
      for (let i = 0; i < events.length; i++) writeEvent(w, events[i]!, dict);
    w.tagVarint32(0x60, count(span.droppedEventsCount));
    const links = span.links;
    if (links !== undefined) {
      for (let i = 0; i < links.length; i++) {
        writeLink(w, links[i]!, dict);
      }
    }
    const droppedLinks = count(span.droppedLinksCount);
    const message = span.status?.message;
    const code = count(span.status?.code);
    const flags = spanFlags(ctx.traceFlags, parent?.isRemote);
    if (!message && droppedLinks < 0x80 && code < 0x80) {
      // The usual tail, 12 bytes: dropped links, a status of a code alone, flags.
      p = w.pos;
      if (p + 12 > w.end) throw WriterFull;
      buf[p] = 0x70;
      buf[p + 1] = droppedLinks;
      buf[p + 2] = 0x7a;
      buf[p + 3] = 2;
      buf[p + 4] = 0x18;
      buf[p + 5] = code;
      buf[p + 6] = 0x85;
      buf[p + 7] = 0x01;
      view.setUint32(p + 8, flags, true);
      w.pos = p + 12;
      return;
    }
    w.tagVarint32(0x70, droppedLinks);
    w.byte(0x7a);
    const status = w.start();
    if (message) {
      w.byte(0x12);
      w.string(String(message));
    }
    w.tagVarint32(0x18, code);
    w.finish(status);
    w.bytes2(0x85, 0x01);
    w.fixed32(flags);
  }
}

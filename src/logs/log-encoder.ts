import type { SpanContext } from '@opentelemetry/api';
import { ProtobufWriter, WriterFull } from '../record/protobuf-writer.js';
import { writeAnyValue, writeTime } from '../record/span-encoder.js';
import { LogAttributeCache, type LogAttributeCacheLimits } from './log-attribute-cache.js';
import { put } from './log-bytes.js';
import type { RecordedLogRecord } from './log-record.js';

/** How many span contexts' ids {@link LogEncoder} keeps encoded. */
const ID_CACHE = 32;
const EMPTY = new Uint8Array(0);
/** A severity text longer than this is written out each time. */
const MAX_SEVERITY_TEXT_CHARS = 64;

/**
 * The trace flags, trace id and span id fields of one span context, encoded
 * once: `45 <flags>` (when flags are set), `4a 10 <16 bytes>` and
 * `52 08 <8 bytes>` (each when its id is hex of its length).
 */
interface Ids {
  ctx: SpanContext | undefined;
  flags: unknown;
  /** The fields' bytes, exactly. */
  bytes: Uint8Array;
  /**
   * The bytes around them in a record with no dropped attributes, the usual
   * one: `38 00` (dropped_attributes_count 0), the fields, `59` (the tag of
   * observed_time_unix_nano). One copy for the three.
   */
  tail: Uint8Array;
  /** Where the id bytes are in `bytes`, or -1. */
  tidAt: number;
  sidAt: number;
}

/**
 * Encodes a log record as the body of an OTLP protobuf `LogRecord` message,
 * field for field as `ProtobufLogsSerializer` (`@opentelemetry/otlp-transformer`)
 * writes it: same order, same skipped defaults, so a record is the very bytes
 * the SDK's protobuf exporter would send. Only values the SDK would mangle or
 * throw on differ: a time that is not an HrTime is written as 0, an id that
 * is not hex of its length is left out (the SDK only sets valid span
 * contexts), a severity that is not an integer is left out, values nested too
 * deep are written empty, and attributes named like the flush marks are left
 * out (the marks replace them at flush).
 *
 * After {@link encode}, `traceIdAt` and `spanIdAt` are the positions of the
 * 16 and 8 id bytes in the writer's buffer, or -1: the ring indexes them so a
 * flush finds a trace's records without decoding.
 */
export class LogEncoder {
  traceIdAt = -1;
  spanIdAt = -1;
  /**
   * The id fields of the last span contexts seen, by identity: every record
   * of one span shares its SpanContext object, so concurrent requests'
   * records hit here instead of parsing 48 hex digits each.
   */
  private readonly _cached: Ids[] = Array.from({ length: ID_CACHE }, () => ({
    ctx: undefined,
    flags: undefined,
    bytes: EMPTY,
    tail: EMPTY,
    tidAt: -1,
    sidAt: -1,
  }));
  private _next = 0;
  /** The entry that matched last, tried first: a request often logs several lines in a row. */
  private _hit = 0;
  private readonly _id16 = new Uint8Array(16);
  private readonly _id8 = new Uint8Array(8);
  private readonly _idWriter = new ProtobufWriter(new Uint8Array(2 + 5 + 18 + 10 + 1));

  /** The last severity number and text written, and their fields' bytes (undefined: none yet). */
  private _severityNumber: unknown = undefined;
  private _severityText: unknown = undefined;
  private _severityBytes: Uint8Array | undefined;
  private readonly _severityWriter = new ProtobufWriter(
    new Uint8Array(11 + 6 + 3 * MAX_SEVERITY_TEXT_CHARS),
  );

  private readonly _attributes: LogAttributeCache;

  /** The last whole second written, and its nanoseconds as uint64 halves. */
  private _second = -1;
  private _secondLow = 0;
  private _secondHigh = 0;

  /** `limits` bound the attribute cache (tests make it small). */
  constructor(limits?: LogAttributeCacheLimits) {
    this._attributes = new LogAttributeCache(limits);
  }

  /**
   * Writes an HrTime as fixed64 nanoseconds: the bytes the SDK's
   * `writeHrTimeAsFixed64` writes, with the seconds' part computed once per
   * second (records of one second share it); anything unusual goes the
   * SDK's way, through `writeTime`.
   */
  private _time(w: ProtobufWriter, t: readonly [number, number] | undefined): void {
    const s = t?.[0];
    const ns = t?.[1];
    if (
      typeof s !== 'number' ||
      typeof ns !== 'number' ||
      !(ns >= 0 && ns < 1e9) ||
      !(s >= 0 && s < 0x100000000) ||
      (s | 0) !== s ||
      (ns | 0) !== ns
    ) {
      writeTime(w, t as [number, number]);
      return;
    }
    if (s !== this._second) {
      // s * 1e9 is below 2^62: exact as halves of the SDK's arithmetic.
      const lower = (s & 0xffff) * 1e9;
      const upper = ((s / 0x10000) >>> 0) * 1e9;
      const low = (lower >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0);
      this._secondLow = low >>> 0;
      this._secondHigh =
        (Math.floor(lower / 0x100000000) +
          ((upper / 0x10000) >>> 0) +
          Math.floor(low / 0x100000000)) >>>
        0;
      this._second = s;
    }
    const low = this._secondLow + ns;
    w.fixed64(low >>> 0, (this._secondHigh + (low >= 0x100000000 ? 1 : 0)) >>> 0);
  }

  /** The encoded id fields of `ctx` (flags compared too: a context is not expected to change, but may). */
  private _ids(ctx: SpanContext): Ids {
    const cached = this._cached;
    const flags = ctx.traceFlags;
    let ids = cached[this._hit]!;
    if (ids.ctx === ctx && ids.flags === flags) return ids;
    for (let i = 0; i < ID_CACHE; i++) {
      ids = cached[i]!;
      if (ids.ctx === ctx && ids.flags === flags) {
        this._hit = i;
        return ids;
      }
    }
    const at = this._next;
    this._next = at + 1 === ID_CACHE ? 0 : at + 1;
    this._hit = at;
    ids = cached[at]!;
    ids.ctx = ctx;
    ids.flags = flags;
    const w = this._idWriter;
    w.pos = 0;
    w.bytes2(0x38, 0x00);
    if (flags) {
      w.byte(0x45);
      w.fixed32(flags);
    }
    ids.tidAt = -1;
    ids.sidAt = -1;
    if (ctx.traceId && parseHex(ctx.traceId, this._id16)) {
      w.byte(0x4a);
      w.byte(16);
      ids.tidAt = w.pos - 2;
      w.raw(this._id16);
    }
    if (ctx.spanId && parseHex(ctx.spanId, this._id8)) {
      w.byte(0x52);
      w.byte(8);
      ids.sidAt = w.pos - 2;
      w.raw(this._id8);
    }
    ids.bytes = w.buf.slice(2, w.pos);
    w.byte(0x59);
    ids.tail = w.buf.slice(0, w.pos);
    return ids;
  }

  /** Writes the severity number (field 2) and text (field 3), the last ones' bytes again when they repeat. */
  private _severity(w: ProtobufWriter, severity: unknown, text: unknown): void {
    let bytes = this._severityBytes;
    if (severity === this._severityNumber && text === this._severityText && bytes !== undefined) {
      put(w, bytes);
      return;
    }
    if (!(
      text === undefined ||
      (typeof text === 'string' && text.length <= MAX_SEVERITY_TEXT_CHARS)
    )) {
      writeSeverity(w, severity, text);
      return;
    }
    const scratch = this._severityWriter;
    scratch.pos = 0;
    writeSeverity(scratch, severity, text);
    bytes = scratch.buf.slice(0, scratch.pos);
    this._severityNumber = severity;
    this._severityText = text;
    this._severityBytes = bytes;
    put(w, bytes);
  }

  /** Writes the body of `record`'s LogRecord at `w.pos`; throws WriterFull when it does not fit. */
  encode(w: ProtobufWriter, record: RecordedLogRecord): void {
    w.extra = 0;
    w.suspect = false;
    this.traceIdAt = -1;
    this.spanIdAt = -1;
    w.byte(0x09);
    const timeAt = w.pos;
    const time = record.hrTime;
    this._time(w, time);
    this._severity(w, record.severityNumber, record.severityText);
    const body = record.body;
    if (typeof body === 'string') {
      if (!writeShortBody(w, body)) {
        w.byte(0x2a);
        const at = w.start();
        w.byte(0x0a);
        w.string(body);
        w.finish(at, 0);
      }
    } else if (body !== undefined) {
      w.byte(0x2a);
      const at = w.start();
      writeAnyValue(w, body, 0);
      w.finish(at);
    }
    this._attributes.write(w, record.attributes);
    const dropped = record.droppedAttributesCount;
    const ctx = record.spanContext;
    if (ctx !== undefined && dropped === 0) {
      const ids = this._ids(ctx);
      const p = w.pos + 2;
      put(w, ids.tail);
      if (ids.tidAt >= 0) this.traceIdAt = p + ids.tidAt;
      if (ids.sidAt >= 0) this.spanIdAt = p + ids.sidAt;
    } else {
      w.byte(0x38);
      w.varint32(
        typeof dropped === 'number' && dropped >= 0 && dropped <= 0xffffffff ? dropped : 0,
      );
      if (ctx !== undefined) {
        const ids = this._ids(ctx);
        const p = w.pos;
        put(w, ids.bytes);
        if (ids.tidAt >= 0) this.traceIdAt = p + ids.tidAt;
        if (ids.sidAt >= 0) this.spanIdAt = p + ids.sidAt;
      }
      w.byte(0x59);
    }
    const observed = record.hrTimeObserved;
    if (
      observed !== undefined &&
      time !== undefined &&
      observed[0] === time[0] &&
      observed[1] === time[1]
    ) {
      // Usually both are the emit time: the same 8 bytes again.
      if (w.pos + 8 > w.end) throw WriterFull;
      const buf = w.buf;
      let p = w.pos;
      for (let i = timeAt; i < timeAt + 8; i++) buf[p++] = buf[i]!;
      w.pos = p;
    } else {
      this._time(w, observed);
    }
    const eventName = record.eventName;
    if (eventName) {
      w.byte(0x62);
      w.string(String(eventName));
    }
  }
}

/**
 * A body that is an ASCII string below 126 chars in one pass, without the
 * writer's calls: `2a <n + 2> 0a <n> <chars>`, both lengths one byte. False,
 * with nothing written, for anything else.
 */
function writeShortBody(w: ProtobufWriter, body: string): boolean {
  const n = body.length;
  const start = w.pos;
  const end = start + 4 + n;
  if (n >= 126 || end > w.end) return false;
  const buf = w.buf;
  let p = start + 4;
  for (let i = 0; i < n; i++) {
    const c = body.charCodeAt(i);
    if (c > 0x7f) return false;
    buf[p++] = c;
  }
  buf[start] = 0x2a;
  buf[start + 1] = n + 2;
  buf[start + 2] = 0x0a;
  buf[start + 3] = n;
  w.pos = end;
  return true;
}

/** The severity number and text fields as the SDK writes them: a number when a non-zero integer, a text when not empty. */
function writeSeverity(w: ProtobufWriter, severity: unknown, text: unknown): void {
  if (severity !== undefined && severity !== 0 && Number.isInteger(severity)) {
    w.byte(0x10);
    w.varint64(severity as number);
  }
  if (text) {
    w.byte(0x1a);
    w.string(String(text));
  }
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses hex of exactly `out.length` bytes into `out`; false (and `out` unspecified) otherwise. */
export function parseHex(hex: unknown, out: Uint8Array): boolean {
  if (typeof hex !== 'string' || hex.length !== out.length * 2) return false;
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    out[i] = (hi << 4) | lo;
  }
  return true;
}

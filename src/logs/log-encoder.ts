import type { SpanContext } from '@opentelemetry/api';
import { type ProtobufWriter, WriterFull } from '../record/protobuf-writer.js';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../marks.js';
import { writeAnyValue, writeTime } from '../record/span-encoder.js';
import type { RecordedLogRecord } from './log-record.js';

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
/** How many span contexts' ids {@link LogEncoder} keeps parsed. */
const ID_CACHE = 32;

interface Ids {
  trace: Uint8Array | undefined;
  span: Uint8Array | undefined;
  readonly traceBytes: Uint8Array;
  readonly spanBytes: Uint8Array;
}

export class LogEncoder {
  traceIdAt = -1;
  spanIdAt = -1;
  /**
   * The ids of the last span contexts seen, by identity: every record of one
   * span shares its SpanContext object, so concurrent requests' records hit
   * here instead of parsing 48 hex digits each.
   */
  private readonly _contexts: (SpanContext | undefined)[] = new Array(ID_CACHE).fill(undefined);
  private readonly _cached: Ids[] = Array.from({ length: ID_CACHE }, () => ({
    trace: undefined,
    span: undefined,
    traceBytes: new Uint8Array(16),
    spanBytes: new Uint8Array(8),
  }));
  private _next = 0;

  /** The last whole second written, and its nanoseconds as uint64 halves. */
  private _second = -1;
  private _secondLow = 0;
  private _secondHigh = 0;

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

  /** The id bytes of `ctx` (each undefined when missing or not hex of its length). */
  private _ids(ctx: SpanContext): Ids {
    const contexts = this._contexts;
    for (let i = 0; i < ID_CACHE; i++) if (contexts[i] === ctx) return this._cached[i]!;
    const at = this._next;
    this._next = at + 1 === ID_CACHE ? 0 : at + 1;
    const ids = this._cached[at]!;
    contexts[at] = ctx;
    ids.trace = ctx.traceId && parseHex(ctx.traceId, ids.traceBytes) ? ids.traceBytes : undefined;
    ids.span = ctx.spanId && parseHex(ctx.spanId, ids.spanBytes) ? ids.spanBytes : undefined;
    return ids;
  }

  /** Writes the body of `record`'s LogRecord at `w.pos`; throws WriterFull when it does not fit. */
  encode(w: ProtobufWriter, record: RecordedLogRecord): void {
    w.extra = 0;
    w.suspect = false;
    this.traceIdAt = -1;
    this.spanIdAt = -1;
    w.byte(0x09);
    const timeAt = w.pos;
    this._time(w, record.hrTime);
    const severity = record.severityNumber;
    if (severity !== undefined && severity !== 0 && Number.isInteger(severity)) {
      w.byte(0x10);
      w.varint64(severity);
    }
    const severityText = record.severityText;
    if (severityText) {
      w.byte(0x1a);
      w.string(String(severityText));
    }
    const body = record.body;
    if (body !== undefined) {
      w.byte(0x2a);
      const at = w.start();
      writeAnyValue(w, body, 0);
      w.finish(at);
    }
    writeLogAttributes(w, record.attributes);
    w.byte(0x38);
    const dropped = record.droppedAttributesCount;
    w.varint32(typeof dropped === 'number' && dropped >= 0 && dropped <= 0xffffffff ? dropped : 0);
    const ctx = record.spanContext;
    if (ctx !== undefined) {
      const flags = ctx.traceFlags;
      if (flags) {
        w.byte(0x45);
        w.fixed32(flags);
      }
      const ids = this._ids(ctx);
      if (ids.trace !== undefined) {
        w.byte(0x4a);
        w.byte(16);
        this.traceIdAt = w.pos;
        copyId(w, ids.trace);
      }
      if (ids.span !== undefined) {
        w.byte(0x52);
        w.byte(8);
        this.spanIdAt = w.pos;
        copyId(w, ids.span);
      }
    }
    const observed = record.hrTimeObserved;
    const time = record.hrTime;
    if (
      observed !== undefined &&
      time !== undefined &&
      observed[0] === time[0] &&
      observed[1] === time[1]
    ) {
      // Usually both are the emit time: the same 8 bytes again.
      w.byte(0x59);
      if (w.pos + 8 > w.end) throw WriterFull;
      w.buf.copyWithin(w.pos, timeAt, timeAt + 8);
      w.pos += 8;
    } else {
      w.byte(0x59);
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
 * Writes log attributes as repeated KeyValue (field 6), as the SDK's
 * `writeAttributes` does (values through the same `writeAnyValue`, so nested
 * values encode alike), with string values written inline and no interning:
 * a log record's keys are written out. Attributes named like the flush marks
 * are left out: the marks replace them at flush.
 */
function writeLogAttributes(
  w: ProtobufWriter,
  attributes: Readonly<Record<string, unknown>>,
): void {
  if (attributes === undefined || attributes === null) return;
  for (const key in attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    const n = key.length;
    if (
      (n === SNAPSHOT_ID_ATTRIBUTE.length && key === SNAPSHOT_ID_ATTRIBUTE) ||
      (n === TRIGGER_ATTRIBUTE.length && key === TRIGGER_ATTRIBUTE)
    ) {
      continue;
    }
    w.byte(0x32);
    const kv = w.start();
    w.byte(0x0a);
    w.string(key);
    w.byte(0x12);
    const at = w.start();
    const value = attributes[key];
    if (typeof value === 'string') {
      w.byte(0x0a);
      w.string(value);
    } else {
      writeAnyValue(w, value, 0);
    }
    // No interned strings in a log record: nothing to add to the lengths.
    w.finish(at, 0);
    w.finish(kv, 0);
  }
}

/** Writes id bytes one by one: for 8 or 16 bytes, cheaper than a TypedArray.set call. */
function copyId(w: ProtobufWriter, id: Uint8Array): void {
  const n = id.length;
  let p = w.pos;
  if (p + n > w.end) throw WriterFull;
  const buf = w.buf;
  for (let i = 0; i < n; i++) buf[p++] = id[i]!;
  w.pos = p;
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

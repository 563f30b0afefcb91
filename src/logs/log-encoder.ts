import type { Attributes, SpanContext } from '@opentelemetry/api';
import { type ProtobufWriter, WriterFull } from '../record/protobuf-writer.js';
import { writeAnyValue, writeAttributes, writeTime } from '../record/span-encoder.js';
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
    writeTime(w, record.hrTime);
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
    // writeAttributes writes any value (it is the SDK's writeAnyValue), so log
    // attributes, which may nest, encode as the SDK's logs serializer does.
    writeAttributes(w, record.attributes as Attributes, 0x32, true);
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
        w.raw(ids.trace);
      }
      if (ids.span !== undefined) {
        w.byte(0x52);
        w.byte(8);
        this.spanIdAt = w.pos;
        w.raw(ids.span);
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
      writeTime(w, observed);
    }
    const eventName = record.eventName;
    if (eventName) {
      w.byte(0x62);
      w.string(String(eventName));
    }
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

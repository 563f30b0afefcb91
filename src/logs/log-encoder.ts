import type { Attributes } from '@opentelemetry/api';
import type { ProtobufWriter } from '../record/protobuf-writer.js';
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
export class LogEncoder {
  traceIdAt = -1;
  spanIdAt = -1;
  private _traceHex = '';
  private _traceValid = false;
  private readonly _traceId = new Uint8Array(16);
  private _spanHex = '';
  private _spanValid = false;
  private readonly _spanId = new Uint8Array(8);

  /** Writes the body of `record`'s LogRecord at `w.pos`; throws WriterFull when it does not fit. */
  encode(w: ProtobufWriter, record: RecordedLogRecord): void {
    w.extra = 0;
    w.suspect = false;
    this.traceIdAt = -1;
    this.spanIdAt = -1;
    w.byte(0x09);
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
      const traceHex = ctx.traceId;
      if (traceHex) {
        if (traceHex !== this._traceHex) {
          this._traceHex = traceHex;
          this._traceValid = parseHex(traceHex, this._traceId);
        }
        if (this._traceValid) {
          w.byte(0x4a);
          w.byte(16);
          this.traceIdAt = w.pos;
          w.raw(this._traceId);
        }
      }
      const spanHex = ctx.spanId;
      if (spanHex) {
        if (spanHex !== this._spanHex) {
          this._spanHex = spanHex;
          this._spanValid = parseHex(spanHex, this._spanId);
        }
        if (this._spanValid) {
          w.byte(0x52);
          w.byte(8);
          this.spanIdAt = w.pos;
          w.raw(this._spanId);
        }
      }
    }
    w.byte(0x59);
    writeTime(w, record.hrTimeObserved);
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

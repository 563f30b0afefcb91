import { ProtobufWriter, varintSize } from '../record/protobuf-writer.js';

/** The event attribute that carries a log record's severity text. */
export const LOG_SEVERITY_ATTRIBUTE = 'log.severity';
/** The event attribute that carries a log record's severity number. */
export const LOG_SEVERITY_NUMBER_ATTRIBUTE = 'log.severity_number';
/** The event attribute that carries a log record's body when it is not a string. */
export const LOG_BODY_ATTRIBUTE = 'log.body';
/** The event attribute that carries a log record's event name when its body names the event. */
export const LOG_EVENT_NAME_ATTRIBUTE = 'event.name';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `buf[at, at + n)` as lower-case hex. */
export function hexOf(buf: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HEX[buf[at + i]!];
  return s;
}

function readVarint(buf: Uint8Array, p: { pos: number }): number {
  let value = 0;
  let mul = 1;
  for (;;) {
    const b = buf[p.pos++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return value;
    mul *= 128;
  }
}

/** Writes a KeyValue with a string value as an Event attribute (field 3). */
function stringAttribute(w: ProtobufWriter, key: string, value: Uint8Array): void {
  w.byte(0x1a);
  const kv = w.start();
  w.byte(0x0a);
  w.string(key);
  w.byte(0x12);
  const v = w.start();
  w.byte(0x0a);
  w.lengthBytes(value);
  w.finish(v);
  w.finish(kv);
}

/** Writes a KeyValue with raw AnyValue bytes as an Event attribute (field 3). */
function rawAttribute(w: ProtobufWriter, key: string, anyValue: Uint8Array): void {
  w.byte(0x1a);
  const kv = w.start();
  w.byte(0x0a);
  w.string(key);
  w.byte(0x12);
  w.lengthBytes(anyValue);
  w.finish(kv);
}

/** Upper bound of the bytes {@link writeLogAsEvent} writes for a record of `n` bytes. */
export function eventSizeBound(n: number): number {
  return n + 128 + 2 * varintSize(n + 128);
}

/**
 * Writes the LogRecord `buf[from, to)` (as the log encoder wrote it) as a
 * `Span.Event` (field 11, `5a <len>`), copying its bytes, no decoding: its
 * time; as name the body when it is a string (else the event name, else
 * `log`); then attributes `log.severity`, `log.severity_number`, the body
 * (`log.body`) when it is not a string, `event.name` when the body took the
 * name, and the record's own attributes; its dropped attribute count.
 */
export function writeLogAsEvent(
  w: ProtobufWriter,
  buf: Uint8Array,
  from: number,
  to: number,
): void {
  let time = -1;
  let severity = 0;
  let text: Uint8Array | undefined;
  let body: Uint8Array | undefined;
  let eventName: Uint8Array | undefined;
  let dropped = 0;
  const attributes: [number, number][] = [];
  const p = { pos: from };
  while (p.pos < to) {
    const tag = buf[p.pos++]!;
    switch (tag) {
      case 0x09:
        time = p.pos;
        p.pos += 8;
        break;
      case 0x10:
        severity = readVarint(buf, p);
        break;
      case 0x38:
        dropped = readVarint(buf, p);
        break;
      case 0x45:
        p.pos += 4;
        break;
      case 0x59:
        p.pos += 8;
        break;
      default: {
        // Every other field the encoder writes is length-delimited.
        const n = readVarint(buf, p);
        const start = p.pos;
        p.pos += n;
        if (tag === 0x1a) text = buf.subarray(start, p.pos);
        else if (tag === 0x2a) body = buf.subarray(start, p.pos);
        else if (tag === 0x32) attributes.push([start, n]);
        else if (tag === 0x62) eventName = buf.subarray(start, p.pos);
      }
    }
  }
  w.byte(0x5a);
  const at = w.start();
  w.byte(0x09);
  if (time >= 0) w.raw(buf.subarray(time, time + 8));
  else w.fixed64(0, 0);
  // A body that is exactly one string_value names the event.
  let bodyString: Uint8Array | undefined;
  if (body !== undefined && body.length > 0 && body[0] === 0x0a) {
    const q = { pos: 1 };
    const n = readVarint(body, q);
    if (q.pos + n === body.length) bodyString = body.subarray(q.pos);
  }
  w.byte(0x12);
  if (bodyString !== undefined) w.lengthBytes(bodyString);
  else if (eventName !== undefined) w.lengthBytes(eventName);
  else w.string('log');
  if (text !== undefined) stringAttribute(w, LOG_SEVERITY_ATTRIBUTE, text);
  if (severity !== 0) {
    w.byte(0x1a);
    const kv = w.start();
    w.byte(0x0a);
    w.string(LOG_SEVERITY_NUMBER_ATTRIBUTE);
    w.byte(0x12);
    const v = w.start();
    w.byte(0x18);
    w.varint64(severity);
    w.finish(v);
    w.finish(kv);
  }
  if (body !== undefined && bodyString === undefined) rawAttribute(w, LOG_BODY_ATTRIBUTE, body);
  if (eventName !== undefined && bodyString !== undefined) {
    stringAttribute(w, LOG_EVENT_NAME_ATTRIBUTE, eventName);
  }
  for (const [start, n] of attributes) {
    w.byte(0x1a);
    w.lengthBytes(buf.subarray(start, start + n));
  }
  w.byte(0x20);
  w.varint32(dropped);
  w.finish(at);
}

/** The events of `records` (`[from, to)` ranges of `buf`, in time order), as Span fields. */
export function logsAsEvents(buf: Uint8Array, records: readonly [number, number][]): Uint8Array {
  let size = 0;
  for (const [from, to] of records) size += eventSizeBound(to - from) + 64;
  const w = new ProtobufWriter(new Uint8Array(size));
  for (const [from, to] of records) writeLogAsEvent(w, buf, from, to);
  return w.buf.slice(0, w.pos);
}

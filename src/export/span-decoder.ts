import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  TraceFlags,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import {
  type FlushMark,
  PERCENTILE_ATTRIBUTE,
  REMOTE_TRIGGER_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../marks.js';
import { expandRecord, releaseExpandViews } from '../record/expand.js';
import { duration } from '../sanitize.js';
import type { RecordRun } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import type { LeavingSpan } from '../flush/contributors.js';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const IS_REMOTE = 0x200;

/**
 * Reads the records the encoder wrote (`src/record/span-encoder.ts`) back
 * into span objects for exporters that take `ReadableSpan`s. Only what the
 * encoder writes is understood; unknown fields are skipped.
 *
 * What protobuf cannot carry comes back as the SDK's protobuf exporter would
 * have sent it: a lone surrogate is U+FFFD, a status without message has
 * `message: undefined`, an empty attribute value is `null`, and the parent's
 * span context carries the span's trace id and flags.
 */
class Reader {
  pos: number;
  readonly text: Buffer;

  constructor(
    readonly buf: Uint8Array,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos;
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80) return b;
    let value = b & 0x7f;
    let shift = 7;
    while (shift < 28) {
      b = buf[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) return value >>> 0;
      shift += 7;
    }
    // Bits 28 and up: keep exact with floating point (uint32 lengths and counts only here).
    let result = value >>> 0;
    let mul = 2 ** 28;
    do {
      b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      mul *= 128;
    } while (b >= 0x80);
    return result;
  }

  /** An int64 varint as a JS number (two's complement for negatives). */
  int64(): number {
    const buf = this.buf;
    let low = 0;
    let high = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[this.pos++]!;
      if (shift < 28) low |= (b & 0x7f) << shift;
      else if (shift === 28) {
        low |= (b & 0x0f) << 28;
        high |= (b & 0x7f) >>> 4;
      } else high |= (b & 0x7f) << (shift - 32);
      shift += 7;
    } while (b >= 0x80 && shift < 70);
    low >>>= 0;
    high >>>= 0;
    if (high & 0x80000000) {
      // Negative: -(~x + 1).
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
      return -(high * 0x100000000 + low);
    }
    return high * 0x100000000 + low;
  }

  fixed32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** fixed64 nanoseconds as HrTime, exactly (no double holds the sum). */
  time(): HrTime {
    const low = this.fixed32();
    const high = this.fixed32();
    const hH = high >>> 16;
    const hL = high & 0xffff;
    // high·2^32 + low = hH·2^48 + hL·2^32 + low, with 2^48 = 281474·1e9 + 976710656 and 2^32 = 4·1e9 + 294967296.
    const rest = hH * 976710656 + hL * 294967296 + low;
    const carry = Math.floor(rest / 1e9);
    return [hH * 281474 + hL * 4 + carry, rest - carry * 1e9];
  }

  double(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  string(): string {
    const n = this.varint();
    const start = this.pos;
    this.pos += n;
    return this.text.toString('utf8', start, start + n);
  }

  hex(): string {
    const n = this.varint();
    let s = '';
    for (let i = 0; i < n; i++) s += HEX[this.buf[this.pos + i]!];
    this.pos += n;
    return s;
  }

  bytes(): Uint8Array {
    const n = this.varint();
    const copy = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return copy;
  }

  /** Skips a field of wire type `wt`. */
  skip(wt: number): void {
    if (wt === 0) this.varint();
    else if (wt === 1) this.pos += 8;
    else if (wt === 2) {
      const n = this.varint();
      this.pos += n;
    } else if (wt === 5) this.pos += 4;
    else this.pos = this.end;
  }
}

function readAnyValue(r: Reader, end: number): unknown {
  let value: unknown = null;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        value = r.string();
        break;
      case 0x10:
        value = r.varint() !== 0;
        break;
      case 0x18:
        value = r.int64();
        break;
      case 0x21:
        value = r.double();
        break;
      case 0x2a: {
        const stop = r.varint() + r.pos;
        const items: unknown[] = [];
        while (r.pos < stop) {
          const t = r.varint();
          if (t !== 0x0a) {
            r.skip(t & 7);
            continue;
          }
          const itemEnd = r.varint() + r.pos;
          items.push(readAnyValue(r, itemEnd));
          r.pos = itemEnd;
        }
        value = items;
        break;
      }
      case 0x32: {
        const stop = r.varint() + r.pos;
        const obj: Record<string, unknown> = {};
        while (r.pos < stop) {
          const t = r.varint();
          if (t !== 0x0a) {
            r.skip(t & 7);
            continue;
          }
          const kvEnd = r.varint() + r.pos;
          readKeyValue(r, kvEnd, obj);
          r.pos = kvEnd;
        }
        value = obj;
        break;
      }
      case 0x3a:
        value = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return value;
}

function readKeyValue(r: Reader, end: number, into: Record<string, unknown>): void {
  let key = '';
  let value: unknown = null;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) {
      const valueEnd = r.varint() + r.pos;
      value = readAnyValue(r, valueEnd);
      r.pos = valueEnd;
    } else r.skip(tag & 7);
  }
  // A key named __proto__ must be an own property, not the prototype.
  if (key === '__proto__') {
    Object.defineProperty(into, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else into[key] = value;
}

function readAttribute(r: Reader, into: Record<string, unknown>): void {
  const end = r.varint() + r.pos;
  readKeyValue(r, end, into);
  r.pos = end;
}

function readEvent(r: Reader, end: number): TimedEvent {
  let time: HrTime = [0, 0];
  let name = '';
  let attributes: Record<string, unknown> | undefined;
  let dropped = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x09) time = r.time();
    else if (tag === 0x12) name = r.string();
    else if (tag === 0x1a) readAttribute(r, (attributes ??= {}));
    else if (tag === 0x20) dropped = r.varint();
    else r.skip(tag & 7);
  }
  const event: TimedEvent = { name, time, droppedAttributesCount: dropped };
  if (attributes !== undefined) event.attributes = attributes as Attributes;
  return event;
}

function readLink(r: Reader, end: number): Link {
  let traceId = '';
  let spanId = '';
  let traceState: TraceState | undefined;
  let attributes: Record<string, unknown> = {};
  let dropped = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) traceId = r.hex();
    else if (tag === 0x12) spanId = r.hex();
    else if (tag === 0x1a) traceState = new TraceState(r.string());
    else if (tag === 0x22) readAttribute(r, attributes);
    else if (tag === 0x28) dropped = r.varint();
    else if (tag === 0x35) flags = r.fixed32();
    else r.skip(tag & 7);
  }
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: flags & 0xff,
    isRemote: (flags & IS_REMOTE) !== 0,
  };
  if (traceState !== undefined) context.traceState = traceState;
  attributes = attributes as Attributes;
  return { context, attributes: attributes as Attributes, droppedAttributesCount: dropped };
}

/** A span read back from its record. */
export class DecodedSpan implements ReadableSpan {
  name = '';
  kind = undefined as unknown as ReadableSpan['kind'];
  parentSpanContext: SpanContext | undefined = undefined;
  startTime: HrTime = [0, 0];
  endTime: HrTime = [0, 0];
  status: ReadableSpan['status'] = { code: 0 };
  attributes: Attributes = {};
  links: Link[] = [];
  events: TimedEvent[] = [];
  duration: HrTime = [0, 0];
  readonly ended = true;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  /** @internal */
  _context: SpanContext = { traceId: '', spanId: '', traceFlags: 0 };

  constructor(
    readonly resource: Resource,
    readonly instrumentationScope: Scope,
  ) {}

  spanContext(): SpanContext {
    return this._context;
  }
}

/**
 * Decodes the Span message body `buf[from, to)`. With `mark`, the span also
 * carries the flush's marks and the sampled flag, as a flush exports it.
 */
export function decodeSpan(
  buf: Uint8Array,
  from: number,
  to: number,
  resource: Resource,
  scope: Scope,
  mark?: FlushMark,
): DecodedSpan {
  const r = new Reader(buf, from, to);
  const span = new DecodedSpan(resource, scope);
  const attributes: Record<string, unknown> = {};
  let traceId = '';
  let spanId = '';
  let parentId: string | undefined;
  let traceState: TraceState | undefined;
  let flags = 0;
  while (r.pos < to) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        traceId = r.hex();
        break;
      case 0x12:
        spanId = r.hex();
        break;
      case 0x1a:
        traceState = new TraceState(r.string());
        break;
      case 0x22:
        parentId = r.hex();
        break;
      case 0x2a:
        span.name = r.string();
        break;
      case 0x30:
        span.kind = (r.varint() - 1) as ReadableSpan['kind'];
        break;
      case 0x39:
        span.startTime = r.time();
        break;
      case 0x41:
        span.endTime = r.time();
        break;
      case 0x4a:
        readAttribute(r, attributes);
        break;
      case 0x50:
        span.droppedAttributesCount = r.varint();
        break;
      case 0x5a: {
        const end = r.varint() + r.pos;
        span.events.push(readEvent(r, end));
        r.pos = end;
        break;
      }
      case 0x60:
        span.droppedEventsCount = r.varint();
        break;
      case 0x6a: {
        const end = r.varint() + r.pos;
        span.links.push(readLink(r, end));
        r.pos = end;
        break;
      }
      case 0x70:
        span.droppedLinksCount = r.varint();
        break;
      case 0x7a: {
        const end = r.varint() + r.pos;
        let code = 0;
        let message: string | undefined;
        while (r.pos < end) {
          const t = r.varint();
          if (t === 0x12) message = r.string();
          else if (t === 0x18) code = r.varint();
          else r.skip(t & 7);
        }
        span.status = message === undefined ? { code } : { code, message };
        break;
      }
      case 133:
        // flags, field 16: the two-byte tag 0x85 0x01.
        flags = r.fixed32();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (mark !== undefined) {
    attributes[SNAPSHOT_ID_ATTRIBUTE] = mark.snapshotId;
    attributes[TRIGGER_ATTRIBUTE] = mark.trigger;
    const evidence = mark.evidence;
    if (evidence !== undefined) {
      attributes[THRESHOLD_ATTRIBUTE] = evidence.thresholdMs;
      if (evidence.percentile !== undefined) attributes[PERCENTILE_ATTRIBUTE] = evidence.percentile;
    }
    if (mark.remote === true) attributes[REMOTE_TRIGGER_ATTRIBUTE] = true;
    flags |= TraceFlags.SAMPLED;
  }
  span.attributes = attributes as Attributes;
  const context: SpanContext = { traceId, spanId, traceFlags: flags & 0xff };
  if (traceState !== undefined) context.traceState = traceState;
  span._context = context;
  if (parentId !== undefined) {
    span.parentSpanContext = {
      traceId,
      spanId: parentId,
      traceFlags: flags & 0xff,
      isRemote: (flags & IS_REMOTE) !== 0,
    };
  }
  span.duration = duration(span.startTime, span.endTime);
  return span;
}

let scratch = new Uint8Array(4096);

/** Decodes the record in `slot` of `run`, with the run's marks when `marked`. */
export function decodeRecord(
  run: RecordRun,
  slot: number,
  table: ResourceScopeTable,
  marked: boolean,
): DecodedSpan {
  const xlen = run.xlen[slot]!;
  if (scratch.length < xlen) scratch = new Uint8Array(Math.max(xlen, scratch.length * 2));
  const o = run.off[slot]!;
  try {
    expandRecord(run.buf, o, o + run.len[slot]!, run.dict(slot), scratch, 0);
  } finally {
    releaseExpandViews();
  }
  const pair = run.pair[slot]!;
  const span = decodeSpan(
    scratch,
    0,
    xlen,
    table.resource(pair),
    table.scope(pair),
    marked ? run.mark : undefined,
  );
  const extra = run.extra?.get(slot);
  if (extra !== undefined) readExtraEvents(extra, span);
  return span;
}

/** The events of a record's `extra` fields (span events added at flush), after its own. */
function readExtraEvents(extra: Uint8Array, span: DecodedSpan): void {
  for (const event of decodeEvents(extra)) span.events.push(event);
}

/** The events (field 11) among encoded Span fields. */
export function decodeEvents(fields: Uint8Array): TimedEvent[] {
  const events: TimedEvent[] = [];
  const r = new Reader(fields, 0, fields.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag !== 0x5a) {
      r.skip(tag & 7);
      continue;
    }
    const end = r.varint() + r.pos;
    events.push(readEvent(r, end));
    r.pos = end;
  }
  return events;
}

/** The ids and times of the record in `slot`, read from its first fields (for flush contributors). */
export function readLeavingSpan(
  run: RecordRun,
  slot: number,
  resource?: LeavingSpan['resource'],
): LeavingSpan {
  const o = run.off[slot]!;
  const r = new Reader(run.buf, o, o + run.len[slot]!);
  let traceId = '';
  let spanId = '';
  let parentSpanId: string | undefined;
  let startMs = 0;
  let endMs = 0;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) traceId = r.hex();
    else if (tag === 0x12) spanId = r.hex();
    else if (tag === 0x22) parentSpanId = r.hex();
    else if (tag === 0x39) {
      const t = r.time();
      startMs = t[0] * 1e3 + t[1] / 1e6;
    } else if (tag === 0x41) {
      const t = r.time();
      endMs = t[0] * 1e3 + t[1] / 1e6;
      break;
    } else r.skip(tag & 7);
  }
  return { traceId, spanId, parentSpanId, startMs, endMs, resource };
}

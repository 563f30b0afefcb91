// Experiment: record spans by encoding them, when they end, into one
// preallocated byte ring instead of keeping the SDK span objects alive.
//
// Question: what is the lowest CPU per span this route can reach? Compared,
// in the same process, alternating over rounds, with the span shape of
// bench/pipeline.ts: the SDK alone (a), a no-op processor (n), a
// BatchSpanProcessor that discards (b), a processor that keeps references to
// the last 13,000 spans (r, what the recorder costs today), the encoder with
// (x) and without (x') interning keys and names, with repeating string values
// interned too (xv), two encoders in a row (xx, to attribute the cost), and
// two lower bounds that only read what an encoder must read (w0, w1).
// Also: a round-trip check (encode → decode → JsonTraceSerializer equals
// serializing the originals) and the isolated costs of encoding and decoding.
//
//   node --expose-gc --import tsx bench/experiments/encode-ring.ts [--smoke] [--rounds N]
//
// (It re-runs itself with --expose-gc when started without.) Results go to
// stdout as Markdown; progress to stderr. See bench/experiments/README.md.
import { cpus } from 'node:os';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import {
  type Attributes,
  type AttributeValue,
  type Context,
  createTraceState,
  type HrTime,
  type Link,
  ROOT_CONTEXT,
  type SpanAttributes,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
  type TraceState,
  trace,
} from '@opentelemetry/api';
import {
  type ExportResult,
  ExportResultCode,
  type InstrumentationScope,
} from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
  type TimedEvent,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ensureExposeGc, gc, isMain, log, yieldToLoop } from '../lib/cli.js';
import { fmt, fmtSummary, type Summary, summarize } from '../lib/stats.js';
import { emitTrace, SPANS_PER_TRACE } from '../lib/workload.js';

// ---------------------------------------------------------------------------
// Record format (all integers little-endian; "var" is an unsigned LEB128).
//
//   u8  flags            F_* below (patched once the record is written)
//   u8  kind             SpanKind, 255 when undefined
//   u8  traceFlags
//   u8  statusCode
//   var resourceId, var scopeId
//   ids                  traceId 16 B, spanId 8 B, parent spanId 8 B (F_PARENT),
//                        parent traceId 16 B (F_PARENT_TRACE); with F_RAW_IDS
//                        the ids are strings instead (ids that are not
//                        lowercase hex of the right length)
//   u8 parentTraceFlags  (F_PARENT)
//   f64 start s, f64 start ns, f64 end s, f64 end ns
//   str name             (interned when the encoder interns)
//   str status message   (F_STATUS_MSG)
//   str trace state      (F_TRACE_STATE; the serialized form)
//   var dropped attributes, events, links   (F_DROPPED)
//   attrs
//   var event count, each: str name, f64 s, f64 ns, var dropped, u8 hasAttrs, [attrs]
//   var link count, each: u8 linkFlags, u8 traceFlags, ids or strings,
//                         [str trace state], [attrs], var dropped
//
//   str   var header h: h & 3 = 0 latin1 inline (h >>> 2 bytes follow),
//         1 UTF-16 code units inline (2 * (h >>> 2) bytes), 2 interned (id h >>> 2).
//         UTF-16 keeps lone surrogates, which UTF-8 would replace.
//   attrs u16 count, then count × (str key, value)
//   value u8 tag (T_*) then: string → str; int32 → i32; number → f64;
//         Uint8Array → var length + bytes; array → var n + n values;
//         object (kvlist) → var n + n × (str key, value)
// ---------------------------------------------------------------------------

const F_PARENT = 1;
const F_PARENT_REMOTE = 2;
const F_RAW_IDS = 4;
const F_STATUS_MSG = 8;
const F_TRACE_STATE = 16;
const F_DROPPED = 32;
const F_REMOTE = 64;
const F_PARENT_TRACE = 128;

const L_REMOTE = 1;
const L_TRACE_STATE = 2;
const L_RAW_IDS = 4;
const L_ATTRS = 8;

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_STRING = 2;
const T_TRUE = 3;
const T_FALSE = 4;
const T_INT = 5;
const T_DOUBLE = 6;
const T_BYTES = 7;
const T_ARRAY = 8;
const T_KVLIST = 9;

/** Node's Buffer has these undocumented fast paths behind toString(). */
type SliceBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  ucs2Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, maxBytes: number): number;
};

/** Strings longer than this are copied by one call into C++ rather than a loop. */
const LONG_STRING = 40;
/**
 * Slots of the intern cache, which spares most intern-table lookups: each
 * name or key is looked for first in the slot that its context hashes to
 * (for a key the key before it, for a span name the previous span's name),
 * where it usually is, since spans of one kind repeat their keys in order.
 */
const KEY_CACHE_BITS = 10;
const KEY_CACHE = 1 << KEY_CACHE_BITS;
const CTX_SPAN_NAME = 1 << 20;
const CTX_EVENT_NAME = 2 << 20;
const CTX_FIRST_KEY = 3 << 20;

function cacheSlot(context: number): number {
  return Math.imul(context + 1, 0x9e3779b1) >>> (32 - KEY_CACHE_BITS);
}

/** Start a new lap when fewer bytes than this remain at the end of the ring. */
const LAP_RESERVE = 4096;
/** The intern table stops growing here; later strings are written inline. */
const MAX_INTERNED = 16_384;
/** Most records the index remembers (8 bytes each). */
const INDEX_CAPACITY = 1 << 17;

export interface SpanRingOptions {
  /** Size of the ring in bytes. */
  bytes: number;
  /** Intern span names, event names and attribute keys. */
  intern: boolean;
  /**
   * Also intern string attribute values that repeat: a value equal to the one
   * at the same (span name, attribute position) last time goes into the
   * intern table. Needs `intern`.
   */
  internValues?: boolean;
}

/** Reads a lowercase hex nibble; -1 for anything else. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isHexId(id: string, bytes: number): boolean {
  if (id.length !== bytes * 2) return false;
  for (let i = 0; i < id.length; i++) if (nibble(id.charCodeAt(i)) < 0) return false;
  return true;
}

/** Hex digit values by char code (0x10 marks anything but 0-9a-f). */
const HEX_VALUES = new Uint8Array(128).fill(0x10);
for (let i = 0; i < 16; i++) HEX_VALUES['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * Parses a lowercase hex id into 32-bit words (out[at..], most significant
 * digit first); false if it is not one.
 */
function parseHexId(id: string, words: number, out: Int32Array, at: number): boolean {
  if (id.length !== words * 8) return false;
  let chars = 0;
  let digits = 0;
  for (let w = 0; w < words; w++) {
    let v = 0;
    for (let j = w * 8; j < w * 8 + 8; j++) {
      const c = id.charCodeAt(j);
      const d = HEX_VALUES[c & 127]!;
      chars |= c;
      digits |= d;
      v = (v << 4) | d;
    }
    out[at + w] = v;
  }
  return chars < 128 && digits < 16;
}

const HEX_CHARS = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_CHARS[i] = '0123456789abcdef'.charCodeAt(i);

/** A TraceState that serializes to exactly the string it was recorded as. */
class RecordedTraceState implements TraceState {
  private parsed: TraceState | undefined;
  constructor(private readonly text: string) {}
  private state(): TraceState {
    this.parsed ??= createTraceState(this.text);
    return this.parsed;
  }
  set(key: string, value: string): TraceState {
    return this.state().set(key, value);
  }
  unset(key: string): TraceState {
    return this.state().unset(key);
  }
  get(key: string): string | undefined {
    return this.state().get(key);
  }
  serialize(): string {
    return this.text;
  }
}

/** What the decoder rebuilds: a ReadableSpan the OTLP serializers accept. */
export class DecodedSpan implements ReadableSpan {
  name = '';
  kind: SpanKind = SpanKind.INTERNAL;
  context: SpanContext = { traceId: '', spanId: '', traceFlags: 0 };
  parentSpanContext: SpanContext | undefined = undefined;
  startTime: HrTime = [0, 0];
  endTime: HrTime = [0, 0];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  attributes: Attributes = {};
  links: Link[] = [];
  events: TimedEvent[] = [];
  ended = true;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  constructor(
    public resource: Resource,
    public instrumentationScope: InstrumentationScope,
  ) {}
  spanContext(): SpanContext {
    return this.context;
  }
  get duration(): HrTime {
    let s = this.endTime[0] - this.startTime[0];
    let ns = this.endTime[1] - this.startTime[1];
    if (ns < 0) {
      s -= 1;
      ns += 1e9;
    }
    return [s, ns];
  }
}

/**
 * The ring. `append` encodes a span at the head, overwriting the oldest
 * records; `decodeAll` rebuilds every record still whole, oldest first.
 * Positions are logical (lap × capacity + offset), so a record starting at s
 * is intact while s + capacity >= head.
 */
export class SpanRing {
  readonly capacity: number;
  readonly intern: boolean;
  readonly internValues: boolean;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly buf: SliceBuffer;
  private lap = 0;
  private headPos = 0;
  private readonly index = new Float64Array(INDEX_CAPACITY);
  private indexFront = 0;
  private indexCount = 0;
  /** The last trace id, parent span id and span id seen, and their bytes (4 words a slot). */
  private readonly idStrings: string[] = ['', '', ''];
  private readonly idValid: boolean[] = [false, false, false];
  private readonly idWords = new Int32Array(12);
  private readonly keyCacheStrings: (string | undefined)[] = new Array(KEY_CACHE).fill(undefined);
  private readonly keyCacheIds = new Int32Array(KEY_CACHE);
  private readonly valueCacheStrings: (string | undefined)[] = new Array(KEY_CACHE).fill(undefined);
  private readonly valueCacheIds = new Int32Array(KEY_CACHE);
  private lastResource: Resource | undefined = undefined;
  private lastResourceId = 0;
  private lastScope: InstrumentationScope | undefined = undefined;
  private lastScopeId = 0;
  private lastNameId = 0;
  /** Set by writeKey: the id the key was written as, or -1 when written inline. */
  private lastKeyId = -1;
  private readonly stringIds = new Map<string, number>();
  private readonly strings: string[] = [];
  private readonly resourceIds = new Map<Resource, number>();
  private readonly resources: Resource[] = [];
  private readonly scopeIds = new Map<InstrumentationScope, number>();
  private readonly scopes: InstrumentationScope[] = [];
  /** Decoder state. */
  private rp = 0;
  private readonly hexScratch = Buffer.alloc(32) as SliceBuffer;
  /** The ids decoded last (trace id; two span ids), kept as words and strings. */
  private readonly decodedIdWords = new Int32Array(8);
  private readonly decodedIds: string[] = ['', '', ''];
  private decodedSpanSlot = 0;
  spansWritten = 0;
  spansDropped = 0;
  bytesWritten = 0;

  constructor(options: SpanRingOptions) {
    this.capacity = options.bytes;
    this.intern = options.intern;
    this.internValues = options.intern && options.internValues === true;
    const ab = new ArrayBuffer(options.bytes);
    this.u8 = new Uint8Array(ab);
    this.dv = new DataView(ab);
    this.buf = Buffer.from(ab) as SliceBuffer;
  }

  /** Records the ring holds whole. */
  get size(): number {
    return this.indexCount;
  }

  get laps(): number {
    return this.lap;
  }

  /** Bytes of the ring the intact records occupy. */
  get usedBytes(): number {
    if (this.indexCount === 0) return 0;
    const oldest = this.index[this.indexFront]!;
    return this.lap * this.capacity + this.headPos - oldest;
  }

  // ---- encoding -----------------------------------------------------------

  append(span: ReadableSpan): void {
    const cap = this.capacity;
    if (cap - this.headPos < LAP_RESERVE) {
      this.lap++;
      this.headPos = 0;
    }
    let start = this.headPos;
    let end = this.writeSpan(span, start);
    if (end > cap && start !== 0) {
      this.lap++;
      start = 0;
      end = this.writeSpan(span, 0);
    }
    if (end > cap) {
      // Larger than the whole ring: it has overwritten everything.
      this.spansDropped++;
      this.lap++;
      this.headPos = 0;
      this.indexCount = 0;
      return;
    }
    this.headPos = end;
    this.spansWritten++;
    this.bytesWritten += end - start;
    const head = this.lap * cap + end;
    const index = this.index;
    let count = this.indexCount;
    let front = this.indexFront;
    if (count === INDEX_CAPACITY) {
      front = (front + 1) & (INDEX_CAPACITY - 1);
      count--;
    }
    index[(front + count) & (INDEX_CAPACITY - 1)] = this.lap * cap + start;
    count++;
    while (count > 0 && index[front]! + cap < head) {
      front = (front + 1) & (INDEX_CAPACITY - 1);
      count--;
    }
    this.indexFront = front;
    this.indexCount = count;
  }

  private resourceId(resource: Resource): number {
    if (resource === this.lastResource) return this.lastResourceId;
    let id = this.resourceIds.get(resource);
    if (id === undefined) {
      id = this.resources.length;
      this.resources.push(resource);
      this.resourceIds.set(resource, id);
    }
    this.lastResource = resource;
    this.lastResourceId = id;
    return id;
  }

  private scopeId(scope: InstrumentationScope): number {
    if (scope === this.lastScope) return this.lastScopeId;
    let id = this.scopeIds.get(scope);
    if (id === undefined) {
      id = this.scopes.length;
      this.scopes.push(scope);
      this.scopeIds.set(scope, id);
    }
    this.lastScope = scope;
    this.lastScopeId = id;
    return id;
  }

  /**
   * Writes the record at p and returns where it ends. Returns a position past
   * the capacity when it does not fit: writes past the end of a Uint8Array are
   * ignored, DataView writes are guarded.
   */
  private writeSpan(span: ReadableSpan, p: number): number {
    const u8 = this.u8;
    const ctx = span.spanContext();
    const parent = span.parentSpanContext;
    const status = span.status;
    const flagsAt = p;
    let flags = 0;
    u8[p + 1] = span.kind === undefined ? 255 : span.kind;
    u8[p + 2] = ctx.traceFlags;
    u8[p + 3] = status.code;
    p += 4;
    p = this.writeVar(p, this.resourceId(span.resource));
    p = this.writeVar(p, this.scopeId(span.instrumentationScope));
    const hasParent = parent !== undefined;
    const parentTrace = hasParent && parent.traceId !== ctx.traceId;
    // Ids repeat: every span of a trace has its trace id, siblings share a
    // parent, and a parent ends after its children; the bytes of the last of
    // each are kept, so most ids are compared rather than parsed.
    if (
      this.cachedId(0, ctx.traceId, 16) &&
      (!hasParent || this.cachedId(1, parent.spanId, 8)) &&
      this.cachedSpanId(ctx.spanId) &&
      (!parentTrace || isHexId(parent.traceId, 16))
    ) {
      p = this.copyId(p, 0, 16);
      p = this.copyId(p, 2, 8);
      if (hasParent) {
        p = this.copyId(p, 1, 8);
        if (parentTrace) p = this.writeHex(p, parent.traceId, 16);
      }
    } else {
      flags |= F_RAW_IDS;
      p = this.writeStr(p, ctx.traceId);
      p = this.writeStr(p, ctx.spanId);
      if (hasParent) {
        p = this.writeStr(p, parent.spanId);
        if (parentTrace) p = this.writeStr(p, parent.traceId);
      }
    }
    if (hasParent) {
      flags |= F_PARENT;
      if (parentTrace) flags |= F_PARENT_TRACE;
      if (parent.isRemote) flags |= F_PARENT_REMOTE;
      u8[p++] = parent.traceFlags;
    }
    if (ctx.isRemote) flags |= F_REMOTE;
    p = this.writeTime(p, span.startTime);
    p = this.writeTime(p, span.endTime);
    let nameId = -1;
    if (this.intern) {
      p = this.writeKey(p, span.name, cacheSlot(CTX_SPAN_NAME + this.lastNameId));
      nameId = this.lastKeyId;
      this.lastNameId = nameId;
    } else {
      p = this.writeStr(p, span.name);
    }
    if (status.message !== undefined) {
      flags |= F_STATUS_MSG;
      p = this.writeStr(p, status.message);
    }
    if (ctx.traceState !== undefined) {
      flags |= F_TRACE_STATE;
      p = this.writeStr(p, ctx.traceState.serialize());
    }
    if (span.droppedAttributesCount | span.droppedEventsCount | span.droppedLinksCount) {
      flags |= F_DROPPED;
      p = this.writeVar(p, span.droppedAttributesCount);
      p = this.writeVar(p, span.droppedEventsCount);
      p = this.writeVar(p, span.droppedLinksCount);
    }
    p = this.writeAttrs(p, span.attributes, CTX_FIRST_KEY + nameId);
    const events = span.events;
    p = this.writeVar(p, events.length);
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      let eventContext = CTX_FIRST_KEY;
      if (this.intern) {
        p = this.writeKey(p, event.name, cacheSlot(CTX_EVENT_NAME + nameId * 8 + i));
        eventContext = CTX_FIRST_KEY + this.lastKeyId;
      } else {
        p = this.writeStr(p, event.name);
      }
      p = this.writeTime(p, event.time);
      p = this.writeVar(p, event.droppedAttributesCount ?? 0);
      if (event.attributes === undefined) {
        u8[p++] = 0;
      } else {
        u8[p++] = 1;
        p = this.writeAttrs(p, event.attributes, eventContext);
      }
    }
    const links = span.links;
    p = this.writeVar(p, links.length);
    for (let i = 0; i < links.length; i++) p = this.writeLink(p, links[i]!);
    u8[flagsAt] = flags;
    return p;
  }

  private writeLink(p: number, link: Link): number {
    const u8 = this.u8;
    const lc = link.context;
    const flagsAt = p;
    let flags = 0;
    u8[p + 1] = lc.traceFlags;
    p += 2;
    if (isHexId(lc.traceId, 16) && isHexId(lc.spanId, 8)) {
      p = this.writeHex(p, lc.traceId, 16);
      p = this.writeHex(p, lc.spanId, 8);
    } else {
      flags |= L_RAW_IDS;
      p = this.writeStr(p, lc.traceId);
      p = this.writeStr(p, lc.spanId);
    }
    if (lc.isRemote) flags |= L_REMOTE;
    if (lc.traceState !== undefined) {
      flags |= L_TRACE_STATE;
      p = this.writeStr(p, lc.traceState.serialize());
    }
    if (link.attributes !== undefined) {
      flags |= L_ATTRS;
      p = this.writeAttrs(p, link.attributes, CTX_FIRST_KEY - 1);
    }
    p = this.writeVar(p, link.droppedAttributesCount ?? 0);
    u8[flagsAt] = flags;
    return p;
  }

  /** context: what the first key's cache slot hashes (the owner's name id). */
  private writeAttrs(p: number, attributes: SpanAttributes, context: number): number {
    const countAt = p;
    p += 2;
    let n = 0;
    for (const key in attributes) {
      const slot = cacheSlot(context);
      if (this.intern) {
        p = this.writeKey(p, key, slot);
        context = this.lastKeyId < 0 ? context + 1 : this.lastKeyId;
      } else {
        p = this.writeStr(p, key);
      }
      const value = attributes[key];
      p =
        this.internValues && typeof value === 'string'
          ? this.writeStringValue(p, value, slot)
          : this.writeValue(p, value);
      n++;
    }
    this.u8[countAt] = n & 255;
    this.u8[countAt + 1] = n >>> 8;
    return p;
  }

  private writeValue(p: number, value: unknown): number {
    const u8 = this.u8;
    switch (typeof value) {
      case 'string':
        u8[p] = T_STRING;
        return this.writeStr(p + 1, value);
      case 'number':
        if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
          u8[p] = T_INT;
          if (p + 5 <= this.capacity) this.dv.setInt32(p + 1, value, true);
          return p + 5;
        }
        u8[p] = T_DOUBLE;
        if (p + 9 <= this.capacity) this.dv.setFloat64(p + 1, value, true);
        return p + 9;
      case 'boolean':
        u8[p] = value ? T_TRUE : T_FALSE;
        return p + 1;
      case 'undefined':
        u8[p] = T_UNDEFINED;
        return p + 1;
      default:
        return this.writeComplex(p, value);
    }
  }

  /** A string value, by reference when it repeats at this slot. */
  private writeStringValue(p: number, value: string, slot: number): number {
    if (this.valueCacheStrings[slot] === value) {
      let id = this.valueCacheIds[slot]!;
      if (id < 0) {
        id = this.internId(value);
        this.valueCacheIds[slot] = id;
      }
      if (id >= 0) {
        this.u8[p] = T_STRING;
        return this.writeVar(p + 1, id * 4 + 2);
      }
    } else {
      this.valueCacheStrings[slot] = value;
      this.valueCacheIds[slot] = -1;
    }
    this.u8[p] = T_STRING;
    return this.writeStr(p + 1, value);
  }

  private writeComplex(p: number, value: unknown): number {
    const u8 = this.u8;
    if (value === null) {
      u8[p] = T_NULL;
      return p + 1;
    }
    if (value instanceof Uint8Array) {
      u8[p] = T_BYTES;
      p = this.writeVar(p + 1, value.length);
      if (p + value.length <= this.capacity) u8.set(value, p);
      return p + value.length;
    }
    if (Array.isArray(value)) {
      u8[p] = T_ARRAY;
      p = this.writeVar(p + 1, value.length);
      for (let i = 0; i < value.length; i++) p = this.writeValue(p, value[i]);
      return p;
    }
    if (typeof value === 'object') {
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      u8[p] = T_KVLIST;
      p = this.writeVar(p + 1, keys.length);
      for (const key of keys) {
        p = this.writeStr(p, key);
        p = this.writeValue(p, record[key]);
      }
      return p;
    }
    // Functions, symbols, bigints: the OTLP transformer turns them into {}.
    u8[p] = T_UNDEFINED;
    return p + 1;
  }

  private writeVar(p: number, n: number): number {
    const u8 = this.u8;
    while (n >= 0x80) {
      u8[p++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    u8[p++] = n;
    return p;
  }

  private writeTime(p: number, time: HrTime): number {
    if (p + 16 <= this.capacity) {
      this.dv.setFloat64(p, time[0], true);
      this.dv.setFloat64(p + 8, time[1], true);
    }
    return p + 16;
  }

  /** Makes slot hold the bytes of id; false when id is not lowercase hex. */
  private cachedId(slot: number, id: string, bytes: number): boolean {
    if (id === this.idStrings[slot]) return this.idValid[slot]!;
    const valid = parseHexId(id, bytes >> 2, this.idWords, slot * 4);
    this.idStrings[slot] = id;
    this.idValid[slot] = valid;
    return valid;
  }

  /** The span id: often the parent id of the spans that ended just before. */
  private cachedSpanId(id: string): boolean {
    if (id === this.idStrings[1] && this.idValid[1]) {
      const w = this.idWords;
      w[8] = w[4]!;
      w[9] = w[5]!;
      this.idStrings[2] = id;
      this.idValid[2] = true;
      return true;
    }
    return this.cachedId(2, id, 8);
  }

  private copyId(p: number, slot: number, bytes: number): number {
    if (p + bytes <= this.capacity) {
      const w = this.idWords;
      const dv = this.dv;
      for (let i = 0; i < bytes >> 2; i++) dv.setInt32(p + 4 * i, w[slot * 4 + i]!, false);
    }
    return p + bytes;
  }

  private writeHex(p: number, id: string, bytes: number): number {
    const u8 = this.u8;
    for (let i = 0; i < bytes; i++) {
      u8[p + i] = (nibble(id.charCodeAt(2 * i)) << 4) | nibble(id.charCodeAt(2 * i + 1));
    }
    return p + bytes;
  }

  /**
   * A name or key: a reference into the intern table when it is there, found
   * through the cache slot first. Leaves the id in lastKeyId (-1: inline).
   */
  private writeKey(p: number, s: string, slot: number): number {
    let id: number;
    if (this.keyCacheStrings[slot] === s) {
      id = this.keyCacheIds[slot]!;
    } else {
      id = this.internId(s);
      this.lastKeyId = id;
      if (id < 0) return this.writeStr(p, s);
      this.keyCacheStrings[slot] = s;
      this.keyCacheIds[slot] = id;
    }
    this.lastKeyId = id;
    return this.writeVar(p, id * 4 + 2);
  }

  /** The string's id in the intern table, added if there is room; -1 if not. */
  private internId(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      if (this.strings.length >= MAX_INTERNED) return -1;
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  private writeStr(p: number, s: string): number {
    const u8 = this.u8;
    const n = s.length;
    const headerAt = p;
    p = this.writeVar(p, n * 4);
    if (p + n > this.capacity) return this.capacity + 1;
    if (n > LONG_STRING && p + 3 * n <= this.capacity) {
      // One call into C++; it writes UTF-8, which equals Latin-1 when every
      // char is ASCII, i.e. when it wrote one byte per char.
      if (this.buf.utf8Write(s, p, 3 * n) === n) return p + n;
    }
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) return this.writeWide(headerAt, p, s);
      u8[p + i] = c;
    }
    return p + n;
  }

  private writeWide(headerAt: number, p: number, s: string): number {
    const u8 = this.u8;
    const n = s.length;
    u8[headerAt] = u8[headerAt]! | 1;
    if (p + 2 * n > this.capacity) return this.capacity + 1;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      u8[p + 2 * i] = c & 255;
      u8[p + 2 * i + 1] = c >>> 8;
    }
    return p + 2 * n;
  }

  // ---- decoding -----------------------------------------------------------

  /** Every intact record, oldest first. */
  decodeAll(): DecodedSpan[] {
    return this.decode(0, this.indexCount);
  }

  /**
   * Records from..from+count-1, counted from the oldest intact one: what a
   * flush would take a batch at a time, so the objects die young.
   */
  decode(from: number, count: number): DecodedSpan[] {
    const n = Math.max(0, Math.min(count, this.indexCount - from));
    const out: DecodedSpan[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const logical = this.index[(this.indexFront + from + i) & (INDEX_CAPACITY - 1)]!;
      out[i] = this.decodeAt(logical % this.capacity);
    }
    return out;
  }

  private decodeAt(p: number): DecodedSpan {
    const u8 = this.u8;
    const flags = u8[p]!;
    const kind = u8[p + 1]!;
    const traceFlags = u8[p + 2]!;
    const statusCode = u8[p + 3]!;
    this.rp = p + 4;
    const resource = this.resources[this.readVar()]!;
    const scope = this.scopes[this.readVar()]!;
    const span = new DecodedSpan(resource, scope);
    const raw = (flags & F_RAW_IDS) !== 0;
    const traceId = raw ? this.readStr() : this.readHex(16);
    const spanId = raw ? this.readStr() : this.readHex(8);
    let parentSpanId = '';
    let parentTraceId = traceId;
    if (flags & F_PARENT) {
      parentSpanId = raw ? this.readStr() : this.readHex(8);
      if (flags & F_PARENT_TRACE) parentTraceId = raw ? this.readStr() : this.readHex(16);
      span.parentSpanContext = {
        traceId: parentTraceId,
        spanId: parentSpanId,
        traceFlags: u8[this.rp++]!,
        isRemote: (flags & F_PARENT_REMOTE) !== 0,
      };
    }
    span.kind = kind === 255 ? (undefined as unknown as SpanKind) : kind;
    span.startTime = this.readTime();
    span.endTime = this.readTime();
    span.name = this.readStr();
    const status: SpanStatus = { code: statusCode };
    if (flags & F_STATUS_MSG) status.message = this.readStr();
    span.status = status;
    const context: SpanContext = {
      traceId,
      spanId,
      traceFlags,
      isRemote: (flags & F_REMOTE) !== 0,
    };
    if (flags & F_TRACE_STATE) context.traceState = new RecordedTraceState(this.readStr());
    span.context = context;
    if (flags & F_DROPPED) {
      span.droppedAttributesCount = this.readVar();
      span.droppedEventsCount = this.readVar();
      span.droppedLinksCount = this.readVar();
    }
    span.attributes = this.readAttrs();
    const eventCount = this.readVar();
    const events: TimedEvent[] = new Array(eventCount);
    for (let i = 0; i < eventCount; i++) {
      const name = this.readStr();
      const time = this.readTime();
      const droppedAttributesCount = this.readVar();
      const attributes = u8[this.rp++] ? this.readAttrs() : undefined;
      events[i] = { name, time, attributes, droppedAttributesCount };
    }
    span.events = events;
    const linkCount = this.readVar();
    const links: Link[] = new Array(linkCount);
    for (let i = 0; i < linkCount; i++) links[i] = this.readLink();
    span.links = links;
    return span;
  }

  private readLink(): Link {
    const u8 = this.u8;
    const flags = u8[this.rp]!;
    const traceFlags = u8[this.rp + 1]!;
    this.rp += 2;
    const raw = (flags & L_RAW_IDS) !== 0;
    const traceId = raw ? this.readStr() : this.readHex(16);
    const spanId = raw ? this.readStr() : this.readHex(8);
    const context: SpanContext = {
      traceId,
      spanId,
      traceFlags,
      isRemote: (flags & L_REMOTE) !== 0,
    };
    if (flags & L_TRACE_STATE) context.traceState = new RecordedTraceState(this.readStr());
    const link: Link = { context };
    if (flags & L_ATTRS) link.attributes = this.readAttrs();
    link.droppedAttributesCount = this.readVar();
    return link;
  }

  private readAttrs(): Attributes {
    const u8 = this.u8;
    const n = u8[this.rp]! | (u8[this.rp + 1]! << 8);
    this.rp += 2;
    const attributes: Attributes = {};
    for (let i = 0; i < n; i++) {
      const key = this.readStr();
      attributes[key] = this.readValue() as AttributeValue;
    }
    return attributes;
  }

  private readValue(): unknown {
    const u8 = this.u8;
    const tag = u8[this.rp++]!;
    switch (tag) {
      case T_STRING:
        return this.readStr();
      case T_INT: {
        const p = this.rp;
        this.rp += 4;
        return u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);
      }
      case T_DOUBLE: {
        const v = this.dv.getFloat64(this.rp, true);
        this.rp += 8;
        return v;
      }
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      case T_NULL:
        return null;
      case T_BYTES: {
        const n = this.readVar();
        const bytes = this.u8.slice(this.rp, this.rp + n);
        this.rp += n;
        return bytes;
      }
      case T_ARRAY: {
        const n = this.readVar();
        const values: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) values[i] = this.readValue();
        return values;
      }
      case T_KVLIST: {
        const n = this.readVar();
        const record: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const key = this.readStr();
          record[key] = this.readValue();
        }
        return record;
      }
      default:
        return undefined;
    }
  }

  private readVar(): number {
    const u8 = this.u8;
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = u8[this.rp++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
    }
  }

  private readTime(): HrTime {
    const p = this.rp;
    this.rp += 16;
    return [this.dv.getFloat64(p, true), this.dv.getFloat64(p + 8, true)];
  }

  /**
   * An id: consecutive records share trace ids and parent span ids, and a
   * parent's id is its children's parent id, so the last ones are reused.
   */
  private readHex(bytes: number): string {
    const dv = this.dv;
    const w = this.decodedIdWords;
    const p = this.rp;
    const w0 = dv.getInt32(p);
    const w1 = dv.getInt32(p + 4);
    if (bytes === 16) {
      const w2 = dv.getInt32(p + 8);
      const w3 = dv.getInt32(p + 12);
      if (w0 === w[0] && w1 === w[1] && w2 === w[2] && w3 === w[3] && this.decodedIds[0] !== '') {
        this.rp += 16;
        return this.decodedIds[0]!;
      }
      const id = this.hexString(16);
      w[0] = w0;
      w[1] = w1;
      w[2] = w2;
      w[3] = w3;
      this.decodedIds[0] = id;
      return id;
    }
    if (w0 === w[4] && w1 === w[5] && this.decodedIds[1] !== '') {
      this.rp += 8;
      return this.decodedIds[1]!;
    }
    if (w0 === w[6] && w1 === w[7] && this.decodedIds[2] !== '') {
      this.rp += 8;
      return this.decodedIds[2]!;
    }
    const id = this.hexString(8);
    const slot = this.decodedSpanSlot;
    this.decodedSpanSlot = slot ^ 1;
    w[4 + 2 * slot] = w0;
    w[5 + 2 * slot] = w1;
    this.decodedIds[1 + slot] = id;
    return id;
  }

  private hexString(bytes: number): string {
    const u8 = this.u8;
    const scratch = this.hexScratch;
    const p = this.rp;
    for (let i = 0; i < bytes; i++) {
      const b = u8[p + i]!;
      scratch[2 * i] = HEX_CHARS[b >>> 4]!;
      scratch[2 * i + 1] = HEX_CHARS[b & 15]!;
    }
    this.rp += bytes;
    return scratch.latin1Slice(0, 2 * bytes);
  }

  private readStr(): string {
    const h = this.readVar();
    const mode = h % 4;
    const n = Math.floor(h / 4);
    if (mode === 2) return this.strings[n]!;
    const p = this.rp;
    if (mode === 1) {
      this.rp += 2 * n;
      return this.buf.ucs2Slice(p, p + 2 * n);
    }
    this.rp += n;
    if (n <= 16) {
      // Short strings: cheaper than a call into C++.
      const u8 = this.u8;
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(u8[p + i]!);
      return s;
    }
    return this.buf.latin1Slice(p, p + n);
  }
}

// ---------------------------------------------------------------------------
// Processors compared.

class DiscardingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

/** (n): does nothing; what any processor costs the SDK to call. */
class NoopProcessor implements SpanProcessor {
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(_span: ReadableSpan): void {}
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** (r): keeps references to the last N spans, as the recorder's ring does. */
class RetainingProcessor implements SpanProcessor {
  private readonly spans: (ReadableSpan | undefined)[];
  private next = 0;
  constructor(readonly n: number) {
    this.spans = new Array(n).fill(undefined);
  }
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    this.spans[this.next] = span;
    this.next = this.next + 1 === this.n ? 0 : this.next + 1;
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/**
 * (w0), (w1): a lower bound for any encoder. Visits every field an encoder
 * must read (ids, times, name, kind, status, every attribute and event) and
 * writes nothing; with `chars` it also reads every character of the string
 * values and of the span id, as copying them would.
 */
class WalkingProcessor implements SpanProcessor {
  sink = 0;
  constructor(private readonly chars: boolean) {}
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    const ctx = span.spanContext();
    let h = ctx.traceId.length + ctx.spanId.length + ctx.traceFlags;
    const parent = span.parentSpanContext;
    if (parent !== undefined) h += parent.spanId.length;
    h += span.startTime[0] + span.startTime[1] + span.endTime[0] + span.endTime[1];
    h += span.name.length + span.kind + span.status.code;
    h += this.walkAttributes(span.attributes);
    const events = span.events;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      h += event.name.length + event.time[0] + event.time[1];
      if (event.attributes !== undefined) h += this.walkAttributes(event.attributes);
    }
    h += span.links.length + span.droppedAttributesCount;
    if (this.chars) h += sumChars(ctx.spanId);
    this.sink = h;
  }
  private walkAttributes(attributes: SpanAttributes): number {
    let h = 0;
    for (const key in attributes) {
      const value = attributes[key];
      h += key.length;
      if (typeof value === 'string') h += this.chars ? sumChars(value) : value.length;
      else if (typeof value === 'number') h += value;
      else if (typeof value === 'boolean') h += value ? 1 : 0;
    }
    return h;
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

function sumChars(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h += s.charCodeAt(i);
  return h;
}

/** (x), (x'): encodes each ended span into the byte ring. */
export class EncodingProcessor implements SpanProcessor {
  readonly ring: SpanRing;
  constructor(options: SpanRingOptions) {
    this.ring = new SpanRing(options);
  }
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    this.ring.append(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** Keeps every span it sees: for the correctness checks only. */
class CapturingProcessor implements SpanProcessor {
  readonly spans: ReadableSpan[] = [];
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    this.spans.push(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

const RING_BYTES = 16 * 1024 * 1024;
const RETAINED = 13_000;
const YIELD_EVERY = 10;
const FAIL_EVERY = 100;
/** Spans per decoded batch: the BatchSpanProcessor's and the recorder's default. */
const BATCH = 512;

type EncoderKey = 'x' | 'x2' | 'xv';
const ENCODERS: Record<EncoderKey, SpanRingOptions> = {
  x: { bytes: RING_BYTES, intern: true },
  x2: { bytes: RING_BYTES, intern: false },
  xv: { bytes: RING_BYTES, intern: true, internValues: true },
};
const ENCODER_KEYS: EncoderKey[] = ['x', 'x2', 'xv'];

type Key = 'a' | 'n' | 'b' | 'r' | EncoderKey | 'xx' | 'w0' | 'w1';
const KEYS: Key[] = ['a', 'n', 'b', 'r', 'x', 'x2', 'xv', 'xx', 'w0', 'w1'];
const LABELS: Record<Key, string> = {
  a: '(a) no processor',
  n: '(n) no-op processor',
  b: '(b) BatchSpanProcessor + discarding exporter',
  r: `(r) keeps references to the last ${fmt(RETAINED)} spans`,
  x: '(x) encoder, 16 MiB ring, interned keys and names',
  x2: "(x') encoder, 16 MiB ring, no interning",
  xv: '(xv) encoder, 16 MiB ring, interned keys, names and repeating values',
  xx: '(xx) two (x) encoders, each span encoded twice (for attribution)',
  w0: '(w0) reads every field an encoder needs, writes nothing',
  w1: '(w1) as (w0), and reads every char of the string values and span id',
};

function processorsFor(key: Key): SpanProcessor[] {
  switch (key) {
    case 'a':
      return [];
    case 'n':
      return [new NoopProcessor()];
    case 'b':
      return [new BatchSpanProcessor({ exporter: new DiscardingExporter() })];
    case 'r':
      return [new RetainingProcessor(RETAINED)];
    case 'w0':
      return [new WalkingProcessor(false)];
    case 'w1':
      return [new WalkingProcessor(true)];
    case 'xx':
      return [new EncodingProcessor(ENCODERS.x), new EncodingProcessor(ENCODERS.x)];
    default:
      return [new EncodingProcessor(ENCODERS[key])];
  }
}

// ---------------------------------------------------------------------------
// GC accounting.

let gcPauseNs = 0;
let gcMinor = 0;
let gcMajor = 0;
let gcEntries = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcEntries++;
    gcPauseNs += entry.duration * 1e6;
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcMinor++;
    else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++;
  }
});

interface GcSnapshot {
  pauseNs: number;
  minor: number;
  major: number;
}

function gcSnapshot(): GcSnapshot {
  return { pauseNs: gcPauseNs, minor: gcMinor, major: gcMajor };
}

function gcSince(s: GcSnapshot): GcSnapshot {
  return {
    pauseNs: gcPauseNs - s.pauseNs,
    minor: gcMinor - s.minor,
    major: gcMajor - s.major,
  };
}

/**
 * A full GC, then waits until the observer has been told about it, so that
 * neither it nor any earlier collection lands in the next measurement.
 */
async function fullGc(): Promise<void> {
  const seen = gcEntries;
  gc();
  for (let i = 0; i < 200 && gcEntries === seen; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await yieldToLoop();
}

function cpuNsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) * 1e3;
}

// ---------------------------------------------------------------------------
// Correctness: encode → decode → JSON serialize equals serializing the originals.

function serialize(spans: ReadableSpan[]): Uint8Array {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('serializer returned nothing');
  return bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const sa = Buffer.from(a).toString('utf8');
  const sb = Buffer.from(b).toString('utf8');
  let i = 0;
  while (i < sa.length && sa[i] === sb[i]) i++;
  return `at ${i}: original …${sa.slice(Math.max(0, i - 80), i + 80)}… decoded …${sb.slice(Math.max(0, i - 80), i + 80)}…`;
}

/** Spans with everything the workload lacks: links, arrays, bytes, kvlists, odd strings. */
function emitTortureSpans(tracer: ReturnType<TracerProvider['getTracer']>): void {
  const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
    isRemote: true,
    traceState: createTraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
  });
  const span = tracer.startSpan(
    'ünïcödé span ☃ \ud800 lone',
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'str.empty': '',
        'str.wide': 'emoji 🎉 and ☃',
        'str.latin1': 'café ÿ',
        'str.long': 'x'.repeat(5000),
        'num.int': 42,
        'num.neg': -7,
        'num.big': 2 ** 40 + 1,
        'num.double': Math.PI,
        'num.negzero': -0,
        'num.nan': Number.NaN,
        'bool.t': true,
        'bool.f': false,
        'arr.str': ['a', 'b', 'ünï'],
        'arr.num': [1, 2.5, -3],
        'arr.bool': [true, false],
        'arr.nulls': ['a', null, 'c'] as unknown as string[],
        'arr.empty': [],
      },
      links: [
        {
          context: {
            traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
            spanId: '00f067aa0ba902b7',
            traceFlags: 0,
            isRemote: true,
            traceState: createTraceState('a=1'),
          },
          attributes: { 'link.kind': 'follows', 'link.n': 3 },
        },
        { context: { traceId: 'NOT-HEX-TRACE', spanId: 'xyz', traceFlags: 1 } },
      ],
    },
    remoteParent,
  );
  span.setAttribute('later', 'set after start');
  span.addEvent('exception', {
    'exception.type': 'Error',
    'exception.message': 'boom',
    'exception.stacktrace': 'Error: boom\n    at x (y.ts:1:2)',
  });
  span.addEvent('no attributes');
  span.addEvent('with time', { k: 1 }, [1_700_000_000, 123_456_789]);
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'it failed: ☃' });
  span.end();
  // A span whose attribute values the API types do not allow but the OTLP
  // transformer handles (bytes, kvlist), set through the SDK anyway.
  const odd = tracer.startSpan('odd values');
  const attrs = (odd as unknown as { attributes: Record<string, unknown> }).attributes;
  attrs['bytes'] = new Uint8Array([0, 1, 2, 250, 255]);
  attrs['kv'] = { a: 1, b: ['x', { c: true }], d: null };
  odd.end();
  tracer.startSpan('unset status, no attributes').end();
}

interface CheckResult {
  ok: boolean;
  detail: string;
}

async function checkRoundTrip(
  options: SpanRingOptions,
  traces: number,
  ringBytes: number,
): Promise<CheckResult> {
  const capture = new CapturingProcessor();
  const encoder = new EncodingProcessor({ ...options, bytes: ringBytes });
  const provider = new TracerProvider({ spanProcessors: [capture, encoder] });
  const tracer = provider.getTracer('bench', '1.0.0');
  const other = provider.getTracer('other-scope', '2.0.0', {
    schemaUrl: 'https://x/schema',
  });
  emitTortureSpans(tracer);
  for (let i = 0; i < traces; i++) {
    emitTrace(i % 3 === 0 ? other : tracer, i, i % 7 === 3);
    if (i % 1000 === 500) emitTortureSpans(other);
  }
  await provider.forceFlush();
  const decoded = encoder.ring.decodeAll();
  const originals = capture.spans.slice(capture.spans.length - decoded.length);
  let ok = decoded.length > 0;
  let detail = '';
  // Compare in batches, as an export would send them.
  for (let i = 0; i < decoded.length && ok; i += 512) {
    const a = serialize(originals.slice(i, i + 512));
    const b = serialize(decoded.slice(i, i + 512));
    if (!sameBytes(a, b)) {
      ok = false;
      detail = firstDifference(a, b);
    }
  }
  await provider.shutdown();
  return {
    ok,
    detail:
      detail ||
      `the last ${fmt(decoded.length)} of ${fmt(capture.spans.length)} spans, ring laps ${encoder.ring.laps}`,
  };
}

// ---------------------------------------------------------------------------
// Isolated costs: encoding alone (nothing retained, so no GC), decoding, and
// JSON serialization of decoded spans against the original SDK spans.

interface IsolatedResult {
  /** 600 spans encoded over and over: the span data is in cache, as in onEnd. */
  hotNs: number;
  /** 120,000 spans encoded in turn: the span data comes from memory. */
  coldNs: number;
  gcNs: number;
  bytesPerSpan: number;
  spansInRing: number;
  decodeNs: number;
  /** Decode + JsonTraceSerializer, per batch. */
  serializeDecodedNs: number;
  /** JsonTraceSerializer on the same original SDK spans. */
  serializeOriginalNs: number;
}

function captureSpans(traces: number): ReadableSpan[] {
  const capture = new CapturingProcessor();
  const provider = new TracerProvider({ spanProcessors: [capture] });
  const tracer = provider.getTracer('bench', '1.0.0');
  for (let i = 0; i < traces; i++) emitTrace(tracer, i, i % FAIL_EVERY === FAIL_EVERY >> 1);
  return capture.spans;
}

async function isolated(
  options: SpanRingOptions,
  hot: ReadableSpan[],
  cold: ReadableSpan[],
  encodes: number,
): Promise<IsolatedResult> {
  const ring = new SpanRing(options);
  // Warm the JIT on both loops; the cold one also fills the ring.
  for (let r = 0; r < 20; r++) for (let i = 0; i < hot.length; i++) ring.append(hot[i]!);
  for (let i = 0; i < cold.length; i++) ring.append(cold[i]!);
  await fullGc();
  const g0 = gcSnapshot();
  const hotRepeats = Math.ceil(encodes / hot.length);
  const c0 = process.cpuUsage();
  for (let r = 0; r < hotRepeats; r++) for (let i = 0; i < hot.length; i++) ring.append(hot[i]!);
  const hotCpu = cpuNsSince(c0);
  const coldRepeats = Math.ceil(encodes / cold.length);
  const c1 = process.cpuUsage();
  for (let r = 0; r < coldRepeats; r++) for (let i = 0; i < cold.length; i++) ring.append(cold[i]!);
  const coldCpu = cpuNsSince(c1);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const g = gcSince(g0);
  const bytesPerSpan = ring.usedBytes / ring.size;
  // Decode the whole ring a batch of 512 at a time, as a flush would, the
  // objects of each batch dropped before the next (once to warm up, then timed).
  const total = ring.size;
  const decodeBatches = () => {
    let n = 0;
    for (let i = 0; i < total; i += BATCH) n += ring.decode(i, BATCH).length;
    return n;
  };
  for (let r = 0; r < 3; r++) decodeBatches();
  await fullGc();
  const c2 = process.cpuUsage();
  decodeBatches();
  const decodeCpu = cpuNsSince(c2);
  // Decode + serialize each batch, against serializing the same original spans.
  const originals = cold.slice(cold.length - total);
  const flushDecoded = () => {
    for (let i = 0; i < total; i += BATCH) serialize(ring.decode(i, BATCH));
  };
  const flushOriginals = () => {
    for (let i = 0; i < total; i += BATCH) serialize(originals.slice(i, i + BATCH));
  };
  flushDecoded();
  flushOriginals();
  await fullGc();
  const c3 = process.cpuUsage();
  flushDecoded();
  const serDecoded = cpuNsSince(c3);
  await fullGc();
  const c4 = process.cpuUsage();
  flushOriginals();
  const serOriginal = cpuNsSince(c4);
  const decoded = { length: total };
  return {
    hotNs: hotCpu / (hotRepeats * hot.length),
    coldNs: coldCpu / (coldRepeats * cold.length),
    gcNs: g.pauseNs / (hotRepeats * hot.length + coldRepeats * cold.length),
    bytesPerSpan,
    spansInRing: ring.size,
    decodeNs: decodeCpu / decoded.length,
    serializeDecodedNs: serDecoded / decoded.length,
    serializeOriginalNs: serOriginal / decoded.length,
  };
}

// ---------------------------------------------------------------------------
// The pipeline, as bench/pipeline.ts runs it.

interface Sizes {
  rounds: number;
  warmTraces: number;
  traces: number;
  isolatedRounds: number;
  isolatedEncodes: number;
  coldTraces: number;
  checkTraces: number;
}

const FULL: Sizes = {
  rounds: 8,
  warmTraces: 12_000,
  traces: 30_000,
  isolatedRounds: 5,
  isolatedEncodes: 240_000,
  coldTraces: 20_000,
  checkTraces: 20_000,
};
const SMOKE: Sizes = {
  rounds: 1,
  warmTraces: 200,
  traces: 500,
  isolatedRounds: 1,
  isolatedEncodes: 3_000,
  coldTraces: 500,
  checkTraces: 300,
};

interface Sample {
  cpuNs: number;
  wallNs: number;
  gcNs: number;
  minorPer10k: number;
  major: number;
  ringSpans: number;
  ringLaps: number;
}

async function drive(provider: TracerProvider, from: number, count: number, failEvery: number) {
  const tracer = provider.getTracer('bench', '1.0.0');
  const half = failEvery >> 1;
  for (let i = 0; i < count; i++) {
    emitTrace(tracer, from + i, failEvery > 0 && i % failEvery === half);
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToLoop();
  }
}

async function runOnce(key: Key, sizes: Sizes): Promise<Sample> {
  const list = processorsFor(key);
  const provider = new TracerProvider({ spanProcessors: list });
  // The warm-up wraps the 16 MiB ring (about 70,000 spans with interning)
  // and fills (r), so the timed part runs at steady state.
  await drive(provider, 0, sizes.warmTraces, 0);
  await provider.forceFlush();
  await fullGc();
  const g0 = gcSnapshot();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await drive(provider, sizes.warmTraces, sizes.traces, FAIL_EVERY);
  await provider.forceFlush();
  const t1 = process.hrtime.bigint();
  const cpu = cpuNsSince(c0);
  await yieldToLoop();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const g = gcSince(g0);
  const encoder = list.find((p) => p instanceof EncodingProcessor);
  await provider.shutdown();
  const spans = sizes.traces * SPANS_PER_TRACE;
  return {
    cpuNs: cpu / spans,
    wallNs: Number(t1 - t0) / spans,
    gcNs: g.pauseNs / spans,
    minorPer10k: (g.minor * 10_000) / spans,
    major: g.major,
    ringSpans: encoder?.ring.size ?? 0,
    ringLaps: encoder?.ring.laps ?? 0,
  };
}

function overhead(samples: Record<Key, Sample[]>, key: Key, field: 'cpuNs' | 'gcNs'): Summary {
  return summarize(samples[key].map((s, round) => s[field] - samples.a[round]![field]));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizes = { ...(args.includes('--smoke') ? SMOKE : FULL) };
  const roundsAt = args.indexOf('--rounds');
  if (roundsAt !== -1) sizes.rounds = Number(args[roundsAt + 1]);
  const started = Date.now();
  gcObserver.observe({ entryTypes: ['gc'] });

  // 1. Correctness, with a ring that wraps once (16 MiB) and many times (1 MiB).
  const checks: { label: string; result: CheckResult }[] = [];
  for (const key of ENCODER_KEYS) {
    for (const ringBytes of [RING_BYTES, 1024 * 1024]) {
      const label = `${LABELS[key].split(',')[0]}, ${ringBytes / 2 ** 20} MiB ring`;
      const result = await checkRoundTrip(ENCODERS[key], sizes.checkTraces, ringBytes);
      log(`check ${label}: ${result.ok ? 'identical' : 'DIFFERENT'} ${result.detail}`);
      checks.push({ label, result });
    }
  }
  if (!checks.every((c) => c.result.ok)) process.exitCode = 1;

  // 2. Isolated costs, the encoders alternating.
  const hot = captureSpans(100);
  const cold = captureSpans(sizes.coldTraces);
  const iso: Record<EncoderKey, IsolatedResult[]> = { x: [], x2: [], xv: [] };
  for (let r = 0; r < sizes.isolatedRounds; r++) {
    for (let k = 0; k < ENCODER_KEYS.length; k++) {
      const key = ENCODER_KEYS[(k + r) % ENCODER_KEYS.length]!;
      const res = await isolated(ENCODERS[key], hot, cold, sizes.isolatedEncodes);
      iso[key].push(res);
      log(
        `isolated ${key}: encode hot ${fmt(res.hotNs)} / cold ${fmt(res.coldNs)} ns/span (gc ${fmt(res.gcNs)}), ${fmt(res.bytesPerSpan)} B/span, ${fmt(res.spansInRing)} spans in ring, decode ${fmt(res.decodeNs)} ns/span, serialize decoded ${fmt(res.serializeDecodedNs)} / original ${fmt(res.serializeOriginalNs)} ns/span`,
      );
    }
  }
  await fullGc();

  // 3. Pipeline rounds.
  const samples = Object.fromEntries(KEYS.map((k) => [k, [] as Sample[]])) as Record<Key, Sample[]>;
  for (let round = 0; round < sizes.rounds; round++) {
    const order = KEYS.map((_, k) => KEYS[(k + round) % KEYS.length]!);
    for (const key of order) {
      const s = await runOnce(key, sizes);
      samples[key].push(s);
      log(
        `round ${round + 1}/${sizes.rounds} ${key}: cpu ${fmt(s.cpuNs)} ns/span, gc ${fmt(s.gcNs)} ns/span, scavenges/10k spans ${fmt(s.minorPer10k, 1)}, mark-compacts ${s.major}${s.ringLaps ? `, ring ${fmt(s.ringSpans)} spans, laps ${s.ringLaps}` : ''}`,
      );
    }
  }
  gcObserver.disconnect();
  process.stdout.write(report(sizes, started, checks, iso, samples));
}

function report(
  sizes: Sizes,
  started: number,
  checks: { label: string; result: CheckResult }[],
  iso: Record<EncoderKey, IsolatedResult[]>,
  samples: Record<Key, Sample[]>,
): string {
  const rows = KEYS.map((key) => {
    const cpu = summarize(samples[key].map((s) => s.cpuNs));
    const gcs = summarize(samples[key].map((s) => s.gcNs));
    const minor = summarize(samples[key].map((s) => s.minorPer10k));
    const major = summarize(samples[key].map((s) => s.major));
    const over = (field: 'cpuNs' | 'gcNs') =>
      key === 'a' ? '–' : fmtSummary(overhead(samples, key, field));
    return `| ${LABELS[key]} | ${fmtSummary(cpu)} | ${over('cpuNs')} | ${fmtSummary(gcs)} | ${over('gcNs')} | ${fmtSummary(minor, 1)} | ${fmtSummary(major)} |`;
  });
  const ratio = (k: Key) =>
    summarize(
      samples[k].map(
        (s, r) => (s.cpuNs - samples.a[r]!.cpuNs) / (samples.b[r]!.cpuNs - samples.a[r]!.cpuNs),
      ),
    );
  const diff = (k: Key, base: Key) =>
    fmtSummary(summarize(samples[k].map((s, r) => s.cpuNs - samples[base][r]!.cpuNs)));
  const isoRow = (k: EncoderKey) => {
    const f = (pick: (r: IsolatedResult) => number) => fmtSummary(summarize(iso[k].map(pick)));
    return `| ${LABELS[k].split(',')[0]} | ${f((r) => r.hotNs)} | ${f((r) => r.coldNs)} | ${f((r) => r.gcNs)} | ${f((r) => r.bytesPerSpan)} | ${f((r) => r.spansInRing)} | ${f((r) => r.decodeNs)} | ${f((r) => r.serializeDecodedNs)} | ${f((r) => r.serializeOriginalNs)} |`;
  };
  const ringSpans = (k: Key) => fmtSummary(summarize(samples[k].map((s) => s.ringSpans)));
  const cpu0 = cpus()[0];
  return `## encode-ring results

- ${new Date().toISOString()}, Node ${process.version} (V8 ${process.versions.v8}), ${cpus().length} × ${cpu0?.model ?? '?'}
- pipeline: ${sizes.rounds} rounds, order rotating; per configuration a fresh TracerProvider, ${fmt(sizes.warmTraces)} warm-up traces, full GC, ${fmt(sizes.traces)} timed traces (${fmt(sizes.traces * SPANS_PER_TRACE)} spans), yield every ${YIELD_EVERY} traces, 1 root in ${FAIL_EVERY} ERROR
- elapsed ${fmt((Date.now() - started) / 1000)} s

### Round trip (encode → decode → JsonTraceSerializer, byte-compared with serializing the originals)

| encoder and ring | result |
| --- | --- |
${checks.map((c) => `| ${c.label} | ${c.result.ok ? 'identical' : 'DIFFERENT'}: ${c.result.detail.replace(/\|/g, '\\|')} |`).join('\n')}

### Pipeline: CPU per span (process.cpuUsage, all threads), median (min – max) over rounds

| configuration | CPU ns/span | over (a), per round | GC pause ns/span | GC pause over (a) | scavenges per 10k spans | mark-compacts per round |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

- median overhead / (b)'s median overhead: ${(['x', 'x2', 'xv', 'r', 'w0', 'w1'] as Key[]).map((k) => `${LABELS[k].split(' ')[0]} ${fmt(overhead(samples, k, 'cpuNs').median / overhead(samples, 'b', 'cpuNs').median, 2)}`).join('; ')} (per round the ratio spreads widely, (b)'s overhead being small and noisy: (x) ${fmtSummary(ratio('x'), 2)})
- differences per round, ns/span: (x) − (b) ${diff('x', 'b')}; (xx) − (x), a second encoding of spans already encoded once ${diff('xx', 'x')}; (xv) − (b) ${diff('xv', 'b')}; (x) − (n) ${diff('x', 'n')}; (x') − (x) ${diff('x2', 'x')}; (b) − (n) ${diff('b', 'n')}; (n) − (a) ${diff('n', 'a')}; (w0) − (b) ${diff('w0', 'b')}; (w1) − (b) ${diff('w1', 'b')}; (x) − (w1) ${diff('x', 'w1')}
- spans in the ring at the end of a round: (x) ${ringSpans('x')}, (x') ${ringSpans('x2')}, (xv) ${ringSpans('xv')}

### Isolated costs, median (min – max) over ${sizes.isolatedRounds} rounds

Encoding ${fmt(sizes.isolatedEncodes)} spans: hot = the same 600 spans over and over (their data in cache, as in \`onEnd\`), cold = ${fmt(sizes.coldTraces * SPANS_PER_TRACE)} spans in turn. Decoding: the whole full ring, ${BATCH} records at a time (each batch's objects dropped before the next, as in a flush). Flush: decode + \`JsonTraceSerializer\` per batch of ${BATCH}, against serializing the same original SDK spans in the same batches.

| encoder | encode hot ns/span | encode cold ns/span | GC pause ns/span while encoding | ring bytes/span | spans in 16 MiB | decode ns/span | decode + serialize ns/span | serialize originals ns/span |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${ENCODER_KEYS.map(isoRow).join('\n')}
`;
}

if (isMain(import.meta.url) && ensureExposeGc()) await main();

import { readFile, stat } from 'node:fs/promises';
import { CliError, describeFsError } from './errors.js';
import { printable } from './style.js';

/** Files larger than this are refused rather than read into memory. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

const SNAPSHOT_ID = 'flight_recorder.snapshot.id';
const TRIGGER = 'flight_recorder.trigger';
const UNFINISHED = 'flight_recorder.unfinished';

/** An OTLP attribute value, decoded. */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

export interface SpanEvent {
  name: string;
  /** Nanoseconds since the epoch. */
  time: bigint;
  attributes: Record<string, Value>;
}

/** One span of a snapshot file, decoded from OTLP JSON. */
export interface SnapshotSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** Nanoseconds since the epoch. */
  start: bigint;
  /** Nanoseconds since the epoch; never before `start`. */
  end: bigint;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  attributes: Record<string, Value>;
  events: SpanEvent[];
  /** The resource's `service.name`, if any. */
  service: string | undefined;
  /** Still open when a crash dump was written. */
  unfinished: boolean;
}

/** A snapshot file: one OTLP/HTTP JSON `ExportTraceServiceRequest`. */
export interface Snapshot {
  path: string;
  bytes: number;
  spans: SnapshotSpan[];
  /** The distinct `flight_recorder.snapshot.id` values, in order of appearance. */
  snapshotIds: string[];
  /** The distinct `flight_recorder.trigger` values, in order of appearance. */
  triggers: string[];
  traceCount: number;
}

/** A problem with the file's content, reported with where it is. */
class Malformed extends Error {}

function fail(where: string, what: string): never {
  throw new Malformed(`${where} ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayAt(parent: Record<string, unknown>, key: string, where: string): unknown[] {
  const v = parent[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${where}.${key}`, 'is not an array');
  return v;
}

const HEX = /^[0-9a-fA-F]*$/;

/** Ids are hex in OTLP JSON; some producers send base64, as in protobuf's JSON mapping. */
function id(v: unknown, bytes: number, where: string): string {
  if (typeof v !== 'string') fail(where, 'is not a string');
  if (v.length === bytes * 2 && HEX.test(v)) return v.toLowerCase();
  const decoded = Buffer.from(v, 'base64');
  if (v.length > 0 && decoded.length === bytes) return decoded.toString('hex');
  fail(where, `is not a ${bytes}-byte id: ${JSON.stringify(v.slice(0, 40))}`);
}

/** The latest time a JS Date holds, 8.64e15 ms after the epoch, in nanoseconds. */
const MAX_NANOS = 8_640_000_000_000_000_000_000n;

function nanos(v: unknown, where: string): bigint {
  if (typeof v === 'string' && /^\d+$/.test(v)) {
    const n = BigInt(v);
    if (n > MAX_NANOS) {
      fail(
        where,
        `is out of range: ${v.slice(0, 40)} ns is past the latest time a date holds (8.64e21 ns)`,
      );
    }
    return n;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (isObject(v) && typeof v.low === 'number' && typeof v.high === 'number') {
    return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  }
  fail(where, v === undefined ? 'is missing' : 'is not a time in nanoseconds');
}

function value(v: unknown): Value {
  if (!isObject(v)) return null;
  if ('stringValue' in v) return printable(String(v.stringValue));
  if ('boolValue' in v) return v.boolValue === true;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('bytesValue' in v) return printable(String(v.bytesValue));
  if ('arrayValue' in v && isObject(v.arrayValue)) {
    const values = v.arrayValue.values;
    return Array.isArray(values) ? values.map(value) : [];
  }
  if ('kvlistValue' in v && isObject(v.kvlistValue)) return attributes(v.kvlistValue.values);
  return null;
}

function attributes(list: unknown): Record<string, Value> {
  const out: Record<string, Value> = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list) {
    if (isObject(kv) && typeof kv.key === 'string') out[printable(kv.key)] = value(kv.value);
  }
  return out;
}

/** Whether JSON.parse failed because the text stops early, as a file cut off mid-write does. */
function isTruncation(text: string, message: string): boolean {
  if (/end of (JSON )?input|Unterminated string/i.test(message)) return true;
  const at = /at position (\d+)/.exec(message);
  return at !== null && Number(at[1]) >= text.trimEnd().length;
}

/**
 * Decodes an OTLP/HTTP JSON trace request. Throws a one-line error naming
 * the file and what is wrong with it.
 */
export function parseSnapshot(text: string, path: string): Snapshot {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `${path}: ${isTruncation(text, message) ? 'truncated' : 'malformed'} JSON (${message})`,
    );
  }
  try {
    return decode(body, path, Buffer.byteLength(text));
  } catch (error) {
    if (error instanceof Malformed) {
      throw new CliError(`${path}: not an OTLP JSON trace file: ${error.message}`);
    }
    throw error;
  }
}

function decode(body: unknown, path: string, bytes: number): Snapshot {
  if (!isObject(body)) fail('the top level', 'is not an object');
  if (!Array.isArray(body.resourceSpans)) fail('resourceSpans', 'is missing');
  const spans: SnapshotSpan[] = [];
  const snapshotIds = new Set<string>();
  const triggers = new Set<string>();
  const traces = new Set<string>();
  body.resourceSpans.forEach((rs, i) => {
    const rw = `resourceSpans[${i}]`;
    if (!isObject(rs)) fail(rw, 'is not an object');
    const resource = isObject(rs.resource) ? attributes(rs.resource.attributes) : {};
    const service =
      typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined;
    arrayAt(rs, 'scopeSpans', rw).forEach((ss, j) => {
      const sw = `${rw}.scopeSpans[${j}]`;
      if (!isObject(ss)) fail(sw, 'is not an object');
      arrayAt(ss, 'spans', sw).forEach((s, k) => {
        const w = `${sw}.spans[${k}]`;
        if (!isObject(s)) fail(w, 'is not an object');
        const traceId = id(s.traceId, 16, `${w}.traceId`);
        const parent = s.parentSpanId;
        const start = nanos(s.startTimeUnixNano, `${w}.startTimeUnixNano`);
        let end = nanos(s.endTimeUnixNano, `${w}.endTimeUnixNano`);
        if (end < start) end = start;
        const attrs = attributes(s.attributes);
        const status = isObject(s.status) ? s.status : {};
        const span: SnapshotSpan = {
          traceId,
          spanId: id(s.spanId, 8, `${w}.spanId`),
          parentSpanId:
            parent === undefined || parent === null || parent === ''
              ? undefined
              : id(parent, 8, `${w}.parentSpanId`),
          name: typeof s.name === 'string' ? printable(s.name) : '(unnamed)',
          start,
          end,
          statusCode: typeof status.code === 'number' ? status.code : 0,
          statusMessage: typeof status.message === 'string' ? printable(status.message) : '',
          attributes: attrs,
          events: arrayAt(s, 'events', w).map((e, n) => {
            const ew = `${w}.events[${n}]`;
            if (!isObject(e)) fail(ew, 'is not an object');
            return {
              name: typeof e.name === 'string' ? printable(e.name) : '',
              time: nanos(e.timeUnixNano ?? '0', `${ew}.timeUnixNano`),
              attributes: attributes(e.attributes),
            };
          }),
          service,
          unfinished: attrs[UNFINISHED] === true,
        };
        const snapshotId = attrs[SNAPSHOT_ID];
        if (typeof snapshotId === 'string') snapshotIds.add(snapshotId);
        const trigger = attrs[TRIGGER];
        if (typeof trigger === 'string') triggers.add(trigger);
        traces.add(traceId);
        spans.push(span);
      });
    });
  });
  return {
    path,
    bytes,
    spans,
    snapshotIds: [...snapshotIds],
    triggers: [...triggers],
    traceCount: traces.size,
  };
}

/** Reads a snapshot file's bytes, refusing one too large to hold; every failure is a one-line {@link CliError}. */
export async function readSnapshotBytes(path: string): Promise<Buffer> {
  try {
    const { size } = await stat(path);
    if (size > MAX_FILE_BYTES) throw new CliError(`${path}: too large to read (${size} bytes)`);
    return await readFile(path);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${path}: cannot read: ${describeFsError(error)}`);
  }
}

/** Reads and decodes a snapshot file; every failure is a one-line {@link CliError}. */
export async function readSnapshot(path: string): Promise<Snapshot> {
  const bytes = await readSnapshotBytes(path);
  return parseSnapshot(bytes.toString('utf8'), path);
}

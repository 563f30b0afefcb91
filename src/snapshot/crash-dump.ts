import { randomBytes } from 'node:crypto';
import {
  type Attributes,
  context,
  type HrTime,
  isSpanContextValid,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import type { ReadableSpan, Span, TimedEvent } from '@opentelemetry/sdk-trace';
import { report } from '../env-warnings.js';
import { markSpan, newSnapshotId } from '../marks.js';
import { serializeRequest } from '../export/otlp-json.js';
import { repair } from '../sanitize.js';
import {
  type SnapshotDirOptions,
  snapshotFileName,
  writeSnapshotFileSync,
} from './snapshot-files.js';
import type { SnapshotSource } from './snapshot-writer.js';

/** The trigger that crash dumps carry. */
export const CRASH_TRIGGER = 'crash';
/** Set to true on spans that were still open when the process crashed. */
export const UNFINISHED_ATTRIBUTE = 'flight_recorder.unfinished';
/**
 * The span a crash dump adds to carry the exception when no span was open:
 * it ends at the crash, under the span active when Node reported the
 * exception if there was one (so it joins that trace), else in a trace of
 * its own.
 */
const CRASH_SPAN_NAME = 'uncaught exception';

/**
 * A process that survives its uncaught exceptions (it has its own
 * `uncaughtException` listener) gets at most one dump in this interval, so a
 * steady stream of exceptions cannot turn into a stream of blocking writes.
 */
export const MIN_DUMP_INTERVAL_MS = 60_000;
/**
 * The most open spans a dump includes, the latest started first; the
 * recorder tracks no more than this many (a dump would leave the rest out).
 */
export const MAX_OPEN_SPANS = 10_000;
/** How far up the parent chain the innermost-span search goes. */
const MAX_DEPTH = 1_000;

/** The part of the recorder a crash dump needs. */
export interface CrashSource extends SnapshotSource {
  _trackOpenSpans(): ReadonlySet<Span>;
  /**
   * Spans flushed and not yet delivered (in flight or waiting for export),
   * within `maxBytes` of OTLP protobuf: the spans, their bytes, and how many
   * did not fit.
   */
  _pendingExportSpans(maxBytes?: number): { spans: ReadableSpan[]; bytes: number; left: number };
  /** The buffered log records as events, by trace id and span id (hex, concatenated). */
  _logEventsBySpan?(): Map<string, TimedEvent[]>;
  /** The resource of the span recorded last, for the dump's own span. */
  _lastResource?(): ReadableSpan['resource'] | undefined;
}

/** What a crash dump says about the crash. */
export interface CrashInfo {
  /** The uncaught exception or unhandled rejection reason. */
  error: unknown;
  /** When it happened, epoch milliseconds. */
  time: number;
  /**
   * The span active when Node reported the exception, if any: where it was
   * thrown, less the spans whose `context.with` (or `startActiveSpan`) the
   * throw unwound; see {@link innermostOpenSpan}.
   */
  active?: ReadableSpan | undefined;
}

// Local HrTime helpers: @opentelemetry/core's time utilities differ between SDK lines.
function millisToHrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

function hrTimeDuration(start: HrTime, end: HrTime): HrTime {
  let seconds = end[0] - start[0];
  let nanos = end[1] - start[1];
  if (nanos < 0) {
    seconds -= 1;
    nanos += 1e9;
  }
  return [seconds, nanos];
}

function hrTimeBefore(a: HrTime, b: HrTime): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {}
  try {
    return Object.prototype.toString.call(value);
  } catch {
    // A revoked Proxy throws even here.
    return '[unreadable value]';
  }
}

/** The semantic-convention attributes of an `exception` event. */
export function exceptionAttributes(error: unknown): Attributes {
  try {
    return readException(error);
  } catch {
    // A getter or a Proxy that throws: the dump still tells what happened.
    return { 'exception.type': 'unknown', 'exception.message': 'the exception could not be read' };
  }
}

function readException(error: unknown): Attributes {
  const attributes: Attributes = {};
  if (error instanceof Error) {
    attributes['exception.type'] = safeString(error.name || error.constructor?.name || 'Error');
    attributes['exception.message'] = safeString(error.message);
    const stack: unknown = error.stack;
    if (typeof stack === 'string') attributes['exception.stacktrace'] = stack;
  } else {
    attributes['exception.type'] = error === null ? 'null' : typeof error;
    attributes['exception.message'] = safeString(error);
  }
  return attributes;
}

/**
 * The span the exception belongs to. Node reports an uncaught exception once
 * the stack has unwound, so the span active then is not the one that threw
 * when that one was made active by `startActiveSpan` or `context.with` (they
 * restore the outer context as the throw leaves them): it is the span whose
 * code started it, and the span that threw is still open below it (the
 * throw skipped its `end()`). So the exception goes on the open span below
 * the active one (in its trace, through open spans only) that started last;
 * without one, on the active span if it is still open, else its nearest open
 * ancestor; without an active span (or with none of its ancestors open), on
 * the open span that started last, which is a leaf, since children start
 * after their parents. (When the active span's own code threw while a child
 * of it was still open on another branch, a call in flight, say, that child
 * gets the exception: nothing tells the two apart after the unwinding.)
 */
export function innermostOpenSpan(
  open: readonly ReadableSpan[],
  window: readonly ReadableSpan[],
  active: ReadableSpan | undefined,
): ReadableSpan | undefined {
  if (open.length === 0) return undefined;
  if (active !== undefined) {
    const openById = new Map<string, ReadableSpan>();
    for (const span of open) openById.set(span.spanContext().spanId, span);
    const below = latestOpenBelow(open, openById, active);
    if (below !== undefined) return below;
    let endedById: Map<string, ReadableSpan> | undefined;
    let span: ReadableSpan | undefined = active;
    for (let depth = 0; span !== undefined && depth < MAX_DEPTH; depth++) {
      const id = span.spanContext().spanId;
      const found = openById.get(id);
      if (found !== undefined) return found;
      const parent = span.parentSpanContext;
      if (parent === undefined || parent.isRemote) break;
      span = openById.get(parent.spanId);
      if (span === undefined) {
        if (endedById === undefined) {
          endedById = new Map();
          for (const s of window) endedById.set(s.spanContext().spanId, s);
        }
        span = endedById.get(parent.spanId);
      }
    }
  }
  let latest = open[0]!;
  for (const span of open) if (!hrTimeBefore(span.startTime, latest.startTime)) latest = span;
  return latest;
}

/**
 * The open span of `active`'s trace, below it through open spans only, that
 * started last; undefined when there is none. Each span's answer is
 * remembered, so it walks each parent chain once.
 */
function latestOpenBelow(
  open: readonly ReadableSpan[],
  openById: ReadonlyMap<string, ReadableSpan>,
  active: ReadableSpan,
): ReadableSpan | undefined {
  const { traceId, spanId: activeId } = active.spanContext();
  const below = new Map<string, boolean>();
  const path: string[] = [];
  let latest: ReadableSpan | undefined;
  for (const candidate of open) {
    const ctx = candidate.spanContext();
    if (ctx.traceId !== traceId || ctx.spanId === activeId) continue;
    let span = candidate;
    let result = false;
    path.length = 0;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const id = span.spanContext().spanId;
      const known = below.get(id);
      if (known !== undefined) {
        result = known;
        break;
      }
      path.push(id);
      const parent = span.parentSpanContext;
      if (parent === undefined || parent.isRemote) break;
      if (parent.spanId === activeId) {
        result = true;
        break;
      }
      const next = openById.get(parent.spanId);
      if (next === undefined) break;
      span = next;
    }
    for (const id of path) below.set(id, result);
    if (result && (latest === undefined || !hrTimeBefore(candidate.startTime, latest.startTime))) {
      latest = candidate;
    }
  }
  return latest;
}

/**
 * A view of an open span as if it had ended at `end`: the span itself is not
 * touched (and not ended); the view inherits everything through its
 * prototype and overrides the end, duration, attributes and, for the span the
 * exception belongs to, the events and an unset status.
 */
export function unfinishedView(
  span: ReadableSpan,
  end: HrTime,
  error: { event: TimedEvent; message: string } | undefined,
  logs: readonly TimedEvent[] = [],
): ReadableSpan {
  const endTime = hrTimeBefore(end, span.startTime) ? span.startTime : end;
  const view = Object.create(span) as Record<string, unknown>;
  const define = (key: string, value: unknown): void => {
    Object.defineProperty(view, key, { value, enumerable: true });
  };
  define('endTime', endTime);
  define('duration', hrTimeDuration(span.startTime, endTime));
  define('ended', true);
  define('attributes', { ...span.attributes, [UNFINISHED_ATTRIBUTE]: true });
  // Its log lines lead up to the exception.
  if (logs.length > 0 && error === undefined) define('events', [...span.events, ...logs]);
  if (error !== undefined) {
    define('events', [...span.events, ...logs, error.event]);
    if (span.status.code === SpanStatusCode.UNSET) {
      const status: SpanStatus = { code: SpanStatusCode.ERROR, message: error.message };
      define('status', status);
    }
  }
  return view as unknown as ReadableSpan;
}

/**
 * The spans of a crash dump: the window, then the open spans as unfinished
 * (ended at the crash), the exception recorded on the innermost one; all
 * marked with one snapshot id and the trigger `crash`.
 */
export function crashDumpSpans(
  window: readonly ReadableSpan[],
  openSpans: Iterable<ReadableSpan>,
  crash: CrashInfo,
  snapshotId: string,
  logEvents?: ReadonlyMap<string, TimedEvent[]>,
  lastResource?: ReadableSpan['resource'],
): ReadableSpan[] {
  return buildCrashDump(window, openSpans, crash, snapshotId, logEvents, lastResource).spans;
}

/** The spans of a crash dump, with the one that carries the exception. */
interface CrashDump {
  spans: ReadableSpan[];
  /** The span holding the exception event: an open span's view, or the dump's own span. */
  carrier: ReadableSpan | undefined;
  /** Open spans left out because even their repaired view could not be made. */
  skipped: number;
  /** Makes the dump's own span, for when the carrier has to be left out. */
  ownSpan: () => ReadableSpan;
}

function buildCrashDump(
  window: readonly ReadableSpan[],
  openSpans: Iterable<ReadableSpan>,
  crash: CrashInfo,
  snapshotId: string,
  logEvents: ReadonlyMap<string, TimedEvent[]> | undefined,
  lastResource: ReadableSpan['resource'] | undefined,
): CrashDump {
  let open = [...openSpans].filter((s) => !s.ended);
  if (open.length > MAX_OPEN_SPANS) {
    open.sort((a, b) => (hrTimeBefore(a.startTime, b.startTime) ? 1 : -1));
    open = open.slice(0, MAX_OPEN_SPANS);
  }
  const end = millisToHrTime(crash.time);
  const innermost = innermostOpenSpan(open, window, crash.active);
  const attributes = exceptionAttributes(crash.error);
  const error = {
    event: { name: 'exception', attributes, time: end, droppedAttributesCount: 0 },
    message: String(attributes['exception.message'] ?? ''),
  };
  const mark = { snapshotId, trigger: CRASH_TRIGGER };
  const ownSpan = () => markSpan(crashSpan(crash, end, error, window, lastResource), mark);
  const spans: ReadableSpan[] = [];
  for (const span of window) spans.push(markSpan(span, mark));
  // No open span to carry the exception: a span of its own does, so the
  // dump still says what ended the process.
  let carrier = innermost === undefined ? ownSpan() : undefined;
  if (carrier !== undefined) spans.push(carrier);
  let skipped = 0;
  for (const span of open) {
    try {
      const ctx = span.spanContext();
      const logs = logEvents?.get(ctx.traceId + ctx.spanId);
      const carries = span === innermost;
      const view = unfinishedView(span, end, carries ? error : undefined, logs);
      // Invariant: an open span goes through the repair every recorded span
      // may need (NaN or negative times, an event at an invalid Date, ids
      // that are not hex, values nested too deep), so what the app put in
      // one span cannot make the serializer throw and lose the whole dump,
      // or a collector reject it. The span itself is not touched.
      const dumped = markSpan(repair(view, crash.time), mark);
      spans.push(dumped);
      if (carries) carrier = dumped;
    } catch {
      skipped++;
    }
  }
  // The span meant to carry the exception could not be written: the dump's own span carries it.
  if (carrier === undefined && innermost !== undefined) {
    carrier = ownSpan();
    spans.push(carrier);
  }
  return { spans, carrier, skipped, ownSpan };
}

/**
 * Appends to `kept` the spans that serialize, halving `spans` until each
 * part either serializes or is one span, and returns how many it left out.
 * The serializer throws on a whole request for one bad span; this keeps
 * the others, for a few serializations of the dump per bad span.
 */
function keepSerializable(spans: readonly ReadableSpan[], kept: ReadableSpan[]): number {
  try {
    serializeRequest(spans as ReadableSpan[]);
    for (const span of spans) kept.push(span);
    return 0;
  } catch {
    if (spans.length <= 1) return spans.length;
    const half = spans.length >> 1;
    return keepSerializable(spans.slice(0, half), kept) + keepSerializable(spans.slice(half), kept);
  }
}

/**
 * The body of a dump: every span, or, when one cannot be serialized
 * whatever the repair did, every span but those (and, if the span carrying
 * the exception is one of them, the dump's own span in its place).
 */
function serializeDump(dump: CrashDump): { body: Uint8Array; skipped: number } {
  try {
    return { body: serializeRequest(dump.spans), skipped: dump.skipped };
  } catch {
    const kept: ReadableSpan[] = [];
    const left = keepSerializable(dump.spans, kept);
    if (dump.carrier !== undefined && !kept.includes(dump.carrier)) {
      keepSerializable([dump.ownSpan()], kept);
    }
    return { body: serializeRequest(kept), skipped: dump.skipped + left };
  }
}

/**
 * The span that carries the exception when no span was open (see
 * {@link CRASH_SPAN_NAME}): ended at the crash (not before the active span
 * ended), status ERROR, its resource that of the active span, else of the
 * span recorded last, else of the newest span in the window.
 */
function crashSpan(
  crash: CrashInfo,
  end: HrTime,
  error: { event: TimedEvent; message: string },
  window: readonly ReadableSpan[],
  lastResource: ReadableSpan['resource'] | undefined,
): ReadableSpan {
  const active = crash.active;
  const parent = active?.spanContext();
  const inTrace = parent !== undefined && isSpanContextValid(parent);
  const resource =
    active?.resource ?? lastResource ?? window[window.length - 1]?.resource ?? bareResource();
  // Built once: every reader sees the same ids.
  const ctx: SpanContext = {
    traceId: inTrace ? parent.traceId : randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
    ...(inTrace && parent.traceState !== undefined ? { traceState: parent.traceState } : {}),
  };
  // Not before the span it belongs to ended: the crash time is whole milliseconds.
  const activeEnd = active?.ended === true ? active.endTime : undefined;
  const time = activeEnd !== undefined && hrTimeBefore(end, activeEnd) ? activeEnd : end;
  const span = {
    name: CRASH_SPAN_NAME,
    kind: SpanKind.INTERNAL,
    spanContext: () => ctx,
    parentSpanContext: inTrace ? parent : undefined,
    startTime: time,
    endTime: time,
    duration: [0, 0] as HrTime,
    ended: true,
    status: { code: SpanStatusCode.ERROR, message: error.message },
    attributes: {},
    links: [],
    events: [{ ...error.event, time }],
    resource,
    instrumentationScope: { name: 'otel-flight-recorder' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return span as unknown as ReadableSpan;
}

/**
 * A resource for a dump when the recorder never saw one: the service name
 * the SDK gives a service that set none (the serializer reads only the
 * attributes and the schema URL).
 */
function bareResource(): ReadableSpan['resource'] {
  return {
    attributes: { 'service.name': `unknown_service:${process.argv0}` },
  } as unknown as ReadableSpan['resource'];
}

/**
 * Writes a crash dump synchronously, since the process is about to die, and
 * returns the file's path, how many of the oldest spans it left out for
 * room, and how many spans it left out because they could not be written.
 * Throws when it cannot be written.
 */
export function writeCrashDump(
  recorder: CrashSource,
  dir: SnapshotDirOptions,
  crash: CrashInfo,
): { path: string; left: number; skipped: number } {
  const snapshotId = newSnapshotId();
  // Invariant: a dump holds what the recorder has not delivered, within
  // MAX_DUMP_BYTES: what waits for export or is in flight (a trace that
  // failed just before the crash is there) first, then the buffered window,
  // newest first, and the open spans. The bound keeps a dump's memory and
  // time the same whatever maxBytes is (up to 1 GiB): it decodes and
  // serializes every span it holds at once, while the app waits.
  const pending = recorder._pendingExportSpans(MAX_DUMP_BYTES);
  const { spans: window, left } = newestWithin(recorder, MAX_DUMP_BYTES - pending.bytes);
  const dump = buildCrashDump(
    [...pending.spans, ...window],
    recorder._trackOpenSpans(),
    crash,
    snapshotId,
    recorder._logEventsBySpan?.(),
    recorder._lastResource?.(),
  );
  const { body, skipped } = serializeDump(dump);
  const name = snapshotFileName({ time: crash.time, trigger: CRASH_TRIGGER, snapshotId });
  return {
    path: writeSnapshotFileSync(dir, name, body),
    left: pending.left + left,
    skipped,
  };
}

/**
 * The OTLP protobuf bytes of the spans a crash dump holds, at most (the
 * records as exported, interned strings expanded): 50–70 MB of JSON, decoded
 * and written in about 0.5–1 s on a 2-core VM, whatever `maxBytes` is. A
 * full default ring holds more (51 MB of the benchmark's spans): the dump
 * keeps the newest.
 */
export const MAX_DUMP_BYTES = 16 * 1024 * 1024;

/**
 * The newest spans of the window within `maxBytes`, copied out of the ring
 * alone (a source without a view gives all of them).
 */
function newestWithin(
  source: CrashSource,
  maxBytes: number,
): { spans: ReadableSpan[]; left: number } {
  const view = source._windowView?.(maxBytes);
  if (view === undefined) return { spans: source._windowSpans(), left: 0 };
  return { spans: view.spans(0, view.length), left: view.omitted ?? 0 };
}

/**
 * Turns on the crash black box: tracks open spans and, on each uncaught
 * exception (including an unhandled rejection that Node turns into one),
 * synchronously writes what waits for export, the window and the open spans
 * to `dir`. It listens on
 * `uncaughtExceptionMonitor`, so the exception still reaches the app's own
 * handlers, or ends the process, exactly as before. Returns the function
 * that removes the listener.
 */
export function installCrashDump(recorder: CrashSource, dir: SnapshotDirOptions): () => void {
  recorder._trackOpenSpans();
  let last = Number.NEGATIVE_INFINITY;
  const listener = (error: unknown): void => {
    try {
      const time = Date.now();
      if (time - last < MIN_DUMP_INTERVAL_MS) return;
      last = time;
      // Node runs this listener in the async context of the throw, once the
      // stack has unwound: see innermostOpenSpan for where the exception goes.
      const active = trace.getSpan(context.active()) as unknown as ReadableSpan | undefined;
      const { path, left, skipped } = writeCrashDump(recorder, dir, { error, time, active });
      report(
        'warn',
        `otel-flight-recorder: crash dump written to ${path}${left > 0 ? ` (the oldest ${left} spans left out: a dump holds ${MAX_DUMP_BYTES >> 20} MiB of spans at most)` : ''}${skipped > 0 ? ` (${skipped} spans left out: they could not be written)` : ''}`,
      );
    } catch (failure) {
      // Never throw from here: it would replace the app's exception.
      report('error', `otel-flight-recorder: crash dump not written: ${safeString(failure)}`);
    }
  };
  process.on('uncaughtExceptionMonitor', listener);
  return () => {
    process.removeListener('uncaughtExceptionMonitor', listener);
  };
}

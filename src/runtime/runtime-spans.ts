import { randomBytes } from 'node:crypto';
import { type Attributes, type HrTime, type SpanContext, SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { LeavingSpan } from '../flush/contributors.js';
import { GC, GC_TYPES, type RuntimeEvent, SAMPLE, STALL } from './runtime-ring.js';

type Resource = ReadableSpan['resource'];

/** Marks every span the recorder makes from runtime events. */
export const RUNTIME_ATTRIBUTE = 'flight_recorder.runtime';
/** The name of the root of the runtime track of a window flush. */
export const RUNTIME_TRACK_NAME = 'process runtime';
/** The name of a stall's span. */
export const STALL_NAME = 'event loop blocked';
/**
 * Said on every span attached to a request's trace. A pause overlapping a
 * span delayed it; nothing about the overlap says the span caused it (a
 * major GC is paid by whoever runs at the time, and a stall is usually some
 * other request's synchronous work).
 */
export const AFFECTED_NOTE =
  'affected by: this span was open while the process was paused; the overlap does not say it caused the pause';

const SCOPE: ReadableSpan['instrumentationScope'] = { name: 'otel-flight-recorder/runtime' };
const OK = { code: 0 } as const;

export function msToHrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1e3);
  let ns = Math.round((ms - s * 1e3) * 1e6);
  if (ns >= 1e9) ns = 999_999_999;
  return [s, ns];
}

function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** A span the recorder makes: a plain object, as {@link ReadableSpan} describes. */
class RuntimeSpan implements ReadableSpan {
  readonly kind = SpanKind.INTERNAL;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status = OK;
  readonly links = [];
  readonly ended = true;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  private readonly _context: SpanContext;

  constructor(
    readonly name: string,
    traceId: string,
    readonly parentSpanContext: SpanContext | undefined,
    startMs: number,
    endMs: number,
    readonly attributes: Attributes,
    readonly resource: Resource,
    readonly events: ReadableSpan['events'] = [],
  ) {
    this._context = { traceId, spanId: newSpanId(), traceFlags: 1, isRemote: false };
    this.startTime = msToHrTime(startMs);
    this.endTime = msToHrTime(endMs);
    this.duration = msToHrTime(Math.max(0, endMs - startMs));
  }

  spanContext(): SpanContext {
    return this._context;
  }
}

/** The span name of a runtime event: `gc (major)`, `gc (minor)`, ... or `event loop blocked`. */
export function eventName(event: RuntimeEvent): string {
  return event.type === GC ? `gc (${gcType(event)})` : STALL_NAME;
}

function gcType(event: RuntimeEvent): string {
  return GC_TYPES[event.a] ?? 'unknown';
}

/** GC pause time (ms) within `[startMs, endMs)`. */
function gcWithin(gcs: Timeline | undefined, startMs: number, endMs: number): number {
  let ms = 0;
  gcs?.overlapping(startMs, endMs, (e) => {
    ms += Math.min(endMs, e.endMs) - Math.max(startMs, e.startMs);
  });
  return ms;
}

/** What a runtime event's span says about the event itself. */
function eventAttributes(event: RuntimeEvent, gcs: Timeline | undefined): Attributes {
  const duration = Math.max(0, event.endMs - event.startMs);
  if (event.type === GC) {
    return {
      [RUNTIME_ATTRIBUTE]: true,
      'v8js.gc.type': gcType(event),
      'flight_recorder.runtime.duration_ms': round(duration),
      'flight_recorder.gc.flags': event.b,
    };
  }
  return {
    [RUNTIME_ATTRIBUTE]: true,
    'flight_recorder.runtime.duration_ms': round(duration),
    'flight_recorder.stall.late_ms': round(event.a),
    // A stall that was mostly GC is the GC's, not user code's: both are said.
    'flight_recorder.stall.gc_ms': round(gcWithin(gcs, event.startMs, event.endMs)),
  };
}

function round(ms: number): number {
  return Math.round(ms * 1_000) / 1_000;
}

/**
 * For each trace among `leaving` (the trace `first` before the others), each
 * GC pause or stall that overlaps one of its spans in time becomes a child
 * span of the innermost of them (the deepest in its trace; the latest
 * started among equals), timed exactly as the event, with a fresh span id.
 * Several traces overlapping one event each get their own child. At most `max` spans; cold path, O(spans × log events + overlaps).
 */
export function attachEvents(
  events: readonly RuntimeEvent[],
  leaving: readonly LeavingSpan[],
  first: string | undefined,
  max: number,
): ReadableSpan[] {
  if (leaving.length === 0 || max <= 0) return [];
  const gcs = new Timeline(events.filter((e) => e.type === GC));
  const stalls = new Timeline(events.filter((e) => e.type === STALL));
  if (gcs.events.length === 0 && stalls.events.length === 0) return [];
  // First, cheaply, the traces that any event overlaps: a window flush has
  // tens of thousands of spans, and most traces were hit by nothing.
  const hit = new Set<string>();
  if (first !== undefined) hit.add(first);
  let firstHit = false;
  for (const span of leaving) {
    if (!gcs.any(span.startMs, span.endMs) && !stalls.any(span.startMs, span.endMs)) continue;
    hit.add(span.traceId);
    if (span.traceId === first) firstHit = true;
  }
  if (first !== undefined && !firstHit) hit.delete(first);
  // Each trace hit gets at least one span: no more traces than spans allowed.
  const traces = new Map<string, LeavingSpan[]>();
  for (const traceId of hit) {
    if (traces.size >= max) break;
    traces.set(traceId, []);
  }
  for (const span of leaving) traces.get(span.traceId)?.push(span);
  const out: ReadableSpan[] = [];
  for (const [traceId, spans] of traces) {
    const depth = depths(spans);
    /** The innermost span overlapping each event. */
    const best = new Map<RuntimeEvent, LeavingSpan>();
    for (const span of spans) {
      const consider = (e: RuntimeEvent): void => {
        const held = best.get(e);
        if (
          held === undefined ||
          depth.get(span)! > depth.get(held)! ||
          (depth.get(span) === depth.get(held) && span.startMs > held.startMs)
        ) {
          best.set(e, span);
        }
      };
      gcs.overlapping(span.startMs, span.endMs, consider);
      stalls.overlapping(span.startMs, span.endMs, consider);
    }
    const pauses = [...best.keys()].sort((x, y) => x.startMs - y.startMs);
    for (const e of pauses) {
      const parent = best.get(e)!;
      if (parent.resource === undefined) continue;
      const attributes = eventAttributes(e, gcs);
      attributes['flight_recorder.runtime.relation'] = AFFECTED_NOTE;
      out.push(
        new RuntimeSpan(
          eventName(e),
          traceId,
          { traceId, spanId: parent.spanId, traceFlags: 1, isRemote: false },
          e.startMs,
          e.endMs,
          attributes,
          parent.resource,
        ),
      );
      if (out.length >= max) return out;
    }
  }
  return out;
}

/**
 * Events of one kind sorted by start, for overlap queries in O(log n + hits).
 * Events of one kind barely overlap each other (GC pauses follow one
 * another; stalls are measured between ticks, so never overlap), so the
 * running maximum of their ends rises with their starts and a binary search
 * on it finds the first event that can overlap a span.
 */
class Timeline {
  readonly events: RuntimeEvent[];
  private readonly _maxEnd: Float64Array;

  constructor(events: RuntimeEvent[]) {
    this.events = events.sort((x, y) => x.startMs - y.startMs);
    this._maxEnd = new Float64Array(events.length);
    let max = Number.NEGATIVE_INFINITY;
    events.forEach((e, k) => {
      max = Math.max(max, e.endMs);
      this._maxEnd[k] = max;
    });
  }

  /** Calls `hit` with each event overlapping `(startMs, endMs)`. */
  overlapping(startMs: number, endMs: number, hit: (event: RuntimeEvent) => void): void {
    const events = this.events;
    for (let k = this._first(startMs); k < events.length && events[k]!.startMs < endMs; k++) {
      if (events[k]!.endMs > startMs) hit(events[k]!);
    }
  }

  /** Whether any event overlaps `(startMs, endMs)`. */
  any(startMs: number, endMs: number): boolean {
    const events = this.events;
    for (let k = this._first(startMs); k < events.length && events[k]!.startMs < endMs; k++) {
      if (events[k]!.endMs > startMs) return true;
    }
    return false;
  }

  /** The first event whose end, or an earlier event's, is after `ms`. */
  private _first(ms: number): number {
    const ends = this._maxEnd;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Each span's depth in its trace (a local root or a span whose parent did not leave is 0). */
function depths(spans: readonly LeavingSpan[]): Map<LeavingSpan, number> {
  const byId = new Map<string, LeavingSpan>();
  for (const s of spans) byId.set(s.spanId, s);
  const depth = new Map<LeavingSpan, number>();
  for (const s of spans) {
    const chain: LeavingSpan[] = [];
    let at: LeavingSpan | undefined = s;
    let base = -1;
    // Bounded by the trace's size, so a cycle of bad parent ids ends.
    while (at !== undefined && chain.length <= spans.length) {
      const known = depth.get(at);
      if (known !== undefined) {
        base = known;
        break;
      }
      chain.push(at);
      at = at.parentSpanId === undefined ? undefined : byId.get(at.parentSpanId);
    }
    for (let i = chain.length - 1; i >= 0; i--) depth.set(chain[i]!, ++base);
  }
  return depth;
}

/**
 * Stands in for a resource on a span that is only shown to the trigger
 * policy, never exported, when no flushed span has told us the real one yet.
 */
const NO_RESOURCE = {
  attributes: {},
  asyncAttributesPending: false,
  waitForAsyncAttributes: async () => {},
  merge: (other: Resource | null) => other,
  getRawAttributes: () => [],
} as unknown as Resource;

/** A stall as a span on its own trace: what the trigger policy is shown when a stall triggers. */
export function stallSpan(event: RuntimeEvent, resource: Resource | undefined): ReadableSpan {
  return new RuntimeSpan(
    STALL_NAME,
    randomBytes(16).toString('hex'),
    undefined,
    event.startMs,
    event.endMs,
    eventAttributes(event, undefined),
    resource ?? NO_RESOURCE,
  );
}

/** What the runtime track of a window flush shows. */
export interface TrackInput {
  /** The events since the previous track, oldest first (samples included). */
  readonly events: readonly RuntimeEvent[];
  readonly startMs: number;
  readonly endMs: number;
  /** The sample taken at this flush. */
  readonly heapUsed: number;
  readonly utilization: number;
  readonly resource: Resource;
  /** At most this many event spans. */
  readonly max: number;
}

/**
 * The `process runtime` trace of a window flush: a root covering the window,
 * with the heap and event-loop utilization sampled at this flush as its
 * attributes and the earlier samples as its events, and every GC pause and
 * stall in the window as a child, on one timeline.
 */
export function runtimeTrack(input: TrackInput): ReadableSpan[] {
  const traceId = randomBytes(16).toString('hex');
  const pauses = input.events.filter((e) => e.type === GC || e.type === STALL).slice(-input.max);
  const gcs = new Timeline(pauses.filter((e) => e.type === GC));
  let gcMs = 0;
  let stalledMs = 0;
  let start = input.startMs;
  for (const e of pauses) {
    if (e.type === GC) gcMs += e.endMs - e.startMs;
    else stalledMs += e.endMs - e.startMs;
    start = Math.min(start, e.startMs);
  }
  const samples = input.events
    .filter((e) => e.type === SAMPLE)
    .map((e) => ({
      name: 'runtime sample',
      time: msToHrTime(e.startMs),
      attributes: { 'v8js.memory.heap.used': e.a, 'nodejs.eventloop.utilization': round(e.b) },
    }));
  for (const s of samples) start = Math.min(start, s.time[0] * 1e3 + s.time[1] / 1e6);
  const end = Math.max(input.endMs, start);
  const root = new RuntimeSpan(
    RUNTIME_TRACK_NAME,
    traceId,
    undefined,
    start,
    end,
    {
      [RUNTIME_ATTRIBUTE]: true,
      'v8js.memory.heap.used': input.heapUsed,
      'nodejs.eventloop.utilization': round(input.utilization),
      'flight_recorder.runtime.gc_pauses': pauses.filter((e) => e.type === GC).length,
      'flight_recorder.runtime.stalls': pauses.filter((e) => e.type === STALL).length,
      'flight_recorder.runtime.gc_ms': round(gcMs),
      'flight_recorder.runtime.stalled_ms': round(stalledMs),
    },
    input.resource,
    samples,
  );
  const parent = root.spanContext();
  const spans: ReadableSpan[] = [root];
  for (const e of pauses) {
    spans.push(
      new RuntimeSpan(
        eventName(e),
        traceId,
        parent,
        e.startMs,
        e.endMs,
        eventAttributes(e, gcs),
        input.resource,
      ),
    );
  }
  return spans;
}

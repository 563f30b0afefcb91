import type { Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

// Heap costs on 64-bit V8 (Node 20 to 24, no pointer compression), fitted to
// what buffered SDK spans retain after a full GC: `bench/calibrate.ts` for
// controlled shapes, `bench/memory.ts` for realistic ones. They count what a
// buffered span keeps alive that nothing else does: the Span object and its
// fields, its span context and span id, its time tuples, status, attribute,
// event and link containers, its end-metrics closure, and the recorder's own
// slot. Resource, scope, attribute keys and the parent's span context are
// shared and not counted. Every string value is counted as if the span owned
// it: literals shared by all spans make the estimate err high (safe), while
// values built per request, which instrumentations mostly produce, are owned.

/** A span with no attributes, events or links, and its slot in the ring. */
const SPAN_BASE = 840;
/** A local root also owns its trace id string (32 characters). */
const LOCAL_ROOT = 48;
/** A remote parent's span context and span id, extracted for this span alone. */
const REMOTE_PARENT = 96;
/** String header (map, hash, length); characters come on top, one byte each. */
const STRING_HEADER = 16;
/** A number that is not a 32-bit integer is boxed in a 16-byte HeapNumber. */
const HEAP_NUMBER = 16;
/** A JSArray and its backing store's header; each element adds a word. */
const ARRAY_BASE = 48;
/**
 * Attribute objects keep 4 properties in the object itself; more go to a
 * property array (a header, a word each). Past 16 properties V8 turns the
 * object into a hash table, about 56 bytes a property at its load factor.
 */
const IN_OBJECT_PROPERTIES = 4;
const FAST_PROPERTIES = 16;
const PROPERTY_ARRAY_HEADER = 16;
const FAST_PROPERTY = 8;
const DICTIONARY_PROPERTY = 56;
/** The first push gives an events or links array a 17-slot backing store. */
const MIN_GROWN_CAPACITY = 17;
/** An event: its object, empty attributes object and time tuple. */
const EVENT_BASE = 160;
/** A link's object; its attributes object when it has any. */
const LINK_BASE = 40;
const ATTRIBUTES_OBJECT = 56;
/** A status with a message carries one more property than the default one. */
const STATUS_MESSAGE = 40;

function stringBytes(s: string): number {
  // One-byte strings round up to the word size. Two-byte (non-Latin-1)
  // strings cost double; checking would be O(length), so they err low.
  return STRING_HEADER + ((s.length + 7) & ~7);
}

/**
 * Levels of arrays and maps an attribute value may nest. A deeper value
 * (or a cycle) estimates as NaN: the recorder repairs the span (see
 * sanitize.ts), since serializers recurse and would overflow the stack.
 */
export const MAX_VALUE_DEPTH = 32;

function valueBytes(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return stringBytes(v);
    case 'number':
      // 32-bit integers are stored inline as small integers.
      return (v | 0) === v ? 0 : HEAP_NUMBER;
    case 'object':
      if (v === null) return 0;
      if (depth >= MAX_VALUE_DEPTH) return Number.NaN;
      if (Array.isArray(v)) {
        // The SDK copies array values, so the span owns the copy.
        let n = ARRAY_BASE + 8 * v.length;
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          if (typeof item === 'string') n += stringBytes(item);
          else if (typeof item === 'number') n += (item | 0) === item ? 0 : HEAP_NUMBER;
          else if (typeof item === 'object' && item !== null) n += valueBytes(item, depth + 1);
        }
        return n;
      }
      if (ArrayBuffer.isView(v)) return ARRAY_BASE + v.byteLength;
      // A map value (an OTLP kvlist), where the SDK lets one through.
      return ATTRIBUTES_OBJECT + attributesBytes(v as Attributes, depth + 1);
    default:
      return 0;
  }
}

/** The properties and values of an attributes object, not the object itself. */
function attributesBytes(attributes: Attributes, depth = 0): number {
  let n = 0;
  let count = 0;
  for (const key in attributes) {
    n += valueBytes(attributes[key], depth);
    count++;
  }
  if (count > FAST_PROPERTIES) return n + DICTIONARY_PROPERTY * count;
  if (count > IN_OBJECT_PROPERTIES) {
    n += PROPERTY_ARRAY_HEADER + FAST_PROPERTY * (count - IN_OBJECT_PROPERTIES);
  }
  return n;
}

/** Whether an attribute value nests deeper than {@link MAX_VALUE_DEPTH} (or is a cycle). */
export function nestsTooDeep(value: unknown): boolean {
  return Number.isNaN(valueBytes(value, 0));
}

/** The backing store a non-empty events or links array was grown to. */
function grownArrayBytes(length: number): number {
  return length === 0 ? 0 : 16 + 8 * Math.max(length, MIN_GROWN_CAPACITY);
}

/**
 * Estimates the heap bytes a buffered span keeps alive. O(attributes + events
 * + links), all of which the SDK's span limits bound (128 each by default),
 * and allocation-free. NaN when an attribute value nests deeper than
 * {@link MAX_VALUE_DEPTH}.
 */
export function estimateSpanBytes(span: ReadableSpan): number {
  let n = SPAN_BASE + stringBytes(span.name) + attributesBytes(span.attributes);
  const parent = span.parentSpanContext;
  if (parent === undefined) n += LOCAL_ROOT;
  else if (parent.isRemote === true) n += LOCAL_ROOT + REMOTE_PARENT;
  const events = span.events;
  n += grownArrayBytes(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    n += EVENT_BASE + stringBytes(event.name);
    if (event.attributes) n += attributesBytes(event.attributes);
  }
  const links = span.links;
  n += grownArrayBytes(links.length);
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    n += LINK_BASE;
    if (link.attributes) n += ATTRIBUTES_OBJECT + attributesBytes(link.attributes);
  }
  const message = span.status.message;
  if (message) n += STATUS_MESSAGE + stringBytes(message);
  return n;
}

import { type Attributes, type SpanContext, TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** The attribute that names the flush a span was exported in. */
export const SNAPSHOT_ID_ATTRIBUTE = 'flight_recorder.snapshot.id';
/** The attribute that names what triggered that flush. */
export const TRIGGER_ATTRIBUTE = 'flight_recorder.trigger';

/** The attribute, `true`, on spans a service flushed because another service's trigger asked. */
export const REMOTE_TRIGGER_ATTRIBUTE = 'flight_recorder.remote_trigger';

/** What one flush stamps on every span it exports. */
export interface FlushMark {
  readonly snapshotId: string;
  readonly trigger: string;
  /** Flushed for another service's trigger (coordination); stamps {@link REMOTE_TRIGGER_ATTRIBUTE}. */
  readonly remote?: boolean;
}

/**
 * A span as exported: every field of the recorded span, the flush's marks
 * added to a copy of its attributes and, for a record-only span, the sampled
 * flag. A plain class rather than a prototype wrapper: making SDK spans the
 * prototypes of other objects is a slow path in V8, and flushes export
 * thousands at a time. The recorded span itself is never touched.
 */
class MarkedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: ReadableSpan['kind'];
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: ReadableSpan['startTime'];
  readonly endTime: ReadableSpan['endTime'];
  readonly status: ReadableSpan['status'];
  readonly attributes: Attributes;
  readonly links: ReadableSpan['links'];
  readonly events: ReadableSpan['events'];
  readonly duration: ReadableSpan['duration'];
  readonly ended: boolean;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  private readonly _spanContext: SpanContext;

  constructor(span: ReadableSpan, mark: FlushMark) {
    const context = span.spanContext();
    this._spanContext =
      (context.traceFlags & TraceFlags.SAMPLED) === 0
        ? { ...context, traceFlags: context.traceFlags | TraceFlags.SAMPLED }
        : context;
    this.name = span.name;
    this.kind = span.kind;
    this.parentSpanContext = span.parentSpanContext;
    this.startTime = span.startTime;
    this.endTime = span.endTime;
    this.status = span.status;
    this.attributes = {
      ...span.attributes,
      [SNAPSHOT_ID_ATTRIBUTE]: mark.snapshotId,
      [TRIGGER_ATTRIBUTE]: mark.trigger,
    };
    if (mark.remote === true) this.attributes[REMOTE_TRIGGER_ATTRIBUTE] = true;
    this.links = span.links;
    this.events = span.events;
    this.duration = span.duration;
    this.ended = span.ended;
    this.resource = span.resource;
    this.instrumentationScope = span.instrumentationScope;
    this.droppedAttributesCount = span.droppedAttributesCount;
    this.droppedEventsCount = span.droppedEventsCount;
    this.droppedLinksCount = span.droppedLinksCount;
  }

  spanContext(): SpanContext {
    return this._spanContext;
  }
}

/** The span as exported by a flush with `mark`; see {@link MarkedSpan}. */
export function markSpan(span: ReadableSpan, mark: FlushMark): ReadableSpan {
  return new MarkedSpan(span, mark);
}

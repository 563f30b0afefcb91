import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

/** The fields a {@link SpanView} gives differently from its span; the rest are the span's own. */
export interface SpanChanges {
  readonly spanContext?: SpanContext;
  readonly parentSpanContext?: SpanContext;
  readonly startTime?: HrTime;
  readonly endTime?: HrTime;
  readonly duration?: HrTime;
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
  readonly events?: TimedEvent[];
  readonly links?: Link[];
}

/**
 * A span as the recorder hands it on: every field of `span`, except those
 * `changes` gives (the flush marks on a copy of its attributes, or repaired
 * times and ids). The span itself, which other processors see, is never
 * touched. A plain class rather than a prototype wrapper: making SDK spans
 * the prototypes of other objects is a slow path in V8, and flushes and
 * snapshots hand on thousands at a time.
 */
export class SpanView implements ReadableSpan {
  readonly name: string;
  readonly kind: ReadableSpan['kind'];
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: ReadableSpan['status'];
  readonly attributes: Attributes;
  readonly links: Link[];
  readonly events: TimedEvent[];
  readonly duration: HrTime;
  readonly ended: boolean;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  private readonly _spanContext: SpanContext;

  constructor(span: ReadableSpan, changes: SpanChanges) {
    this._spanContext = changes.spanContext ?? span.spanContext();
    this.name = span.name;
    this.kind = span.kind;
    this.parentSpanContext = changes.parentSpanContext ?? span.parentSpanContext;
    this.startTime = changes.startTime ?? span.startTime;
    this.endTime = changes.endTime ?? span.endTime;
    this.status = span.status;
    this.attributes = changes.attributes ?? span.attributes;
    this.links = changes.links ?? span.links;
    this.events = changes.events ?? span.events;
    this.duration = changes.duration ?? span.duration;
    this.ended = span.ended;
    this.resource = span.resource;
    this.instrumentationScope = span.instrumentationScope;
    this.droppedAttributesCount = changes.droppedAttributesCount ?? span.droppedAttributesCount;
    this.droppedEventsCount = span.droppedEventsCount;
    this.droppedLinksCount = span.droppedLinksCount;
  }

  spanContext(): SpanContext {
    return this._spanContext;
  }
}

import { type Attributes, type SpanContext, TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** The attribute that names the flush a span was exported in. */
export const SNAPSHOT_ID_ATTRIBUTE = 'flight_recorder.snapshot.id';
/** The attribute that names what triggered that flush. */
export const TRIGGER_ATTRIBUTE = 'flight_recorder.trigger';

/** What one flush stamps on every span it exports. */
export interface FlushMark {
  readonly snapshotId: string;
  readonly trigger: string;
}

/**
 * Returns a view of `span` that carries the flush's marks and, for a
 * record-only span, the sampled flag. The original span is not touched:
 * the view inherits every field from it through its prototype and
 * overrides only `attributes` and, when needed, `spanContext`.
 */
export function markSpan(span: ReadableSpan, mark: FlushMark): ReadableSpan {
  const attributes: Attributes = {
    ...span.attributes,
    [SNAPSHOT_ID_ATTRIBUTE]: mark.snapshotId,
    [TRIGGER_ATTRIBUTE]: mark.trigger,
  };
  const view = Object.create(span) as Record<string, unknown>;
  Object.defineProperty(view, 'attributes', { value: attributes, enumerable: true });
  const context = span.spanContext();
  if ((context.traceFlags & TraceFlags.SAMPLED) === 0) {
    const sampled: SpanContext = {
      ...context,
      traceFlags: context.traceFlags | TraceFlags.SAMPLED,
    };
    Object.defineProperty(view, 'spanContext', { value: () => sampled, enumerable: false });
  }
  return view as unknown as ReadableSpan;
}

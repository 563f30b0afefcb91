import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanView } from './span-view.js';

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
 * The span as exported by a flush with `mark`: the marks added to a copy of
 * its attributes and, for a record-only span, the sampled flag.
 */
export function markSpan(span: ReadableSpan, mark: FlushMark): ReadableSpan {
  const context = span.spanContext();
  return new SpanView(span, {
    spanContext:
      (context.traceFlags & TraceFlags.SAMPLED) === 0
        ? { ...context, traceFlags: context.traceFlags | TraceFlags.SAMPLED }
        : context,
    attributes: {
      ...span.attributes,
      [SNAPSHOT_ID_ATTRIBUTE]: mark.snapshotId,
      [TRIGGER_ATTRIBUTE]: mark.trigger,
    },
  });
}

import { randomBytes } from 'node:crypto';
import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanView } from './span-view.js';

/** The attribute that names the flush a span was exported in. */
export const SNAPSHOT_ID_ATTRIBUTE = 'flight_recorder.snapshot.id';
/** The attribute that names what triggered that flush. */
export const TRIGGER_ATTRIBUTE = 'flight_recorder.trigger';

/** The attribute on a triggering root: the latency threshold it was judged against, in ms. */
export const THRESHOLD_ATTRIBUTE = 'flight_recorder.trigger.threshold_ms';
/** The attribute on a triggering root whose threshold is a percentile: which one (99 for p99). */
export const PERCENTILE_ATTRIBUTE = 'flight_recorder.trigger.percentile';

/** Why a trigger fired, carried by its triggering span. */
export interface TriggerEvidence {
  readonly thresholdMs: number;
  readonly percentile?: number;
}
/** The attribute, `true`, on spans a service flushed because another service's trigger asked. */
export const REMOTE_TRIGGER_ATTRIBUTE = 'flight_recorder.remote_trigger';

/** A new id for `flight_recorder.snapshot.id`: 16 hex digits. */
export function newSnapshotId(): string {
  return randomBytes(8).toString('hex');
}

/** What one flush stamps on every span it exports. */
export interface FlushMark {
  readonly snapshotId: string;
  readonly trigger: string;
  /** Only on the triggering span's own run: the evidence attributes too. */
  readonly evidence?: TriggerEvidence;
  /** Flushed for another service's trigger (coordination); stamps {@link REMOTE_TRIGGER_ATTRIBUTE}. */
  readonly remote?: boolean;
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
      ...(mark.remote === true ? { [REMOTE_TRIGGER_ATTRIBUTE]: true } : {}),
    },
  });
}

import { diag } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * A span leaving in a flush, as a contributor sees it: read from its record
 * at flush time (the cold path), never kept from the hot path.
 * @internal
 */
export interface LeavingSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly startMs: number;
  readonly endMs: number;
  /** The span's resource, for spans a contributor makes in its trace. */
  readonly resource?: ReadableSpan['resource'];
}

/**
 * One flush, as contributors are told of it.
 * @internal
 */
export interface ContributorFlush {
  readonly scope: 'trace' | 'window';
  readonly trigger: string;
  /** The trace whose span triggered the flush; undefined for a manual snapshot. */
  readonly traceId?: string | undefined;
  readonly snapshotId: string;
  /** Set when another service asked for the flush (coordination): its records carry `flight_recorder.remote_trigger`. */
  readonly remote?: boolean | undefined;
  /**
   * Every span leaving, read from the records when first asked (a window
   * flush's are tens of thousands: ask only when needed).
   */
  readonly spans: readonly LeavingSpan[];
  /** The resource of the first span leaving, if any. */
  readonly resource?: ReadableSpan['resource'] | undefined;
  /**
   * The start (epoch ms) of the first span leaving: of a window flush, the
   * span that ended first, where the window begins. Undefined when none.
   */
  readonly oldestStartMs?: number | undefined;
  /** The spans leaving of one trace only, found without reading the others. */
  spansOfTrace(traceId: string): LeavingSpan[];
  /**
   * Appends encoded Span fields (events, field 11) after the records of the
   * spans leaving that `fields` names (by trace id then span id, 48 hex
   * digits), exported with them; decoders see them as those spans' last
   * events. Found without reading the other spans; returns the keys found.
   */
  appendToSpans(fields: ReadonlyMap<string, Uint8Array>): Set<string>;
}

/**
 * Adds spans to a flush (runtime events), or fields to the spans leaving in
 * it (log records as span events). Called synchronously once per flush with
 * the spans leaving in it; the spans it returns are encoded and exported in
 * the same flush, with the same marks. A throw is logged once and ignored.
 * @internal
 */
export interface FlushContributor {
  contribute(flush: ContributorFlush): ReadableSpan[] | undefined;
}

const warned = new WeakSet<FlushContributor>();

/** Asks every contributor; what they return, in order. Never throws. */
export function collectContributions(
  contributors: readonly FlushContributor[],
  flush: ContributorFlush,
): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  for (const contributor of contributors) {
    try {
      const added = contributor.contribute(flush);
      if (Array.isArray(added)) for (const span of added) spans.push(span);
    } catch (error) {
      if (warned.has(contributor)) continue;
      warned.add(contributor);
      diag.warn(
        `otel-flight-recorder: a flush contributor threw; its spans are left out (further errors are silent): ${error}`,
      );
    }
  }
  return spans;
}

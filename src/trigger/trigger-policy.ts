import type { TriggerEvidence } from '../marks.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * What the recorder does with a trigger: flush the trace now; defer it (the
 * policy flushes it later through {@link TriggerHost.flushTrace}, while its
 * spans are still in the ring); or suppress it (its spans stay in the ring
 * and age out as any others).
 * @internal
 */
export type TriggerDecision = 'flush' | 'defer' | 'suppress';

/**
 * What a policy may ask of the recorder that holds it.
 * @internal
 */
export interface TriggerHost {
  /**
   * Flushes the trace `traceId` now for `reason`, with what the ring still
   * holds of it; its triggering span carries `evidence`. Its export is
   * coalesced with other such flushes (a full batch, or a few seconds).
   * Returns false when nothing of it is left.
   */
  flushTrace(traceId: string, reason: string, evidence?: TriggerEvidence): boolean;
  /**
   * Tells the recorder that a deferred trigger of `traceId` will not be
   * flushed (suppressed after all): once none of the trace's is left, its
   * records are no longer held for it.
   */
  forget(traceId: string): void;
  /** The recorder's clock in ms: never behind the span times it has seen. */
  now(): number;
}

/**
 * Asked on every ended span whether it triggers a flush, and then what to do
 * about it. The decision is kept apart from the flushing, so a policy can
 * budget flushes, pick the slowest of a burst or learn per-route thresholds
 * without knowing how the ring is flushed.
 * @internal
 */
export interface TriggerPolicy {
  /**
   * Why `span` triggers a flush (`latency`, `error`, a custom name), or
   * undefined; `now` is the recorder's clock at its end (ms; see
   * RecorderClock: it never goes back, and after the wall clock steps back it
   * runs ahead of it by the step, so compare it only with the recorder's
   * other times). Runs on every span:
   * no allocation, no I/O, must not throw.
   */
  reason(span: ReadableSpan, localRoot: boolean, now: number): string | undefined;
  /** What to do with the trigger `reason` of `span` (trace `traceId`) at `now`. */
  decide(reason: string, traceId: string, span: ReadableSpan, now: number): TriggerDecision;
  /** Why the trigger `reason` just given by {@link reason} fired, for its triggering span. */
  evidence?(reason: string): TriggerEvidence | undefined;
  /** Decides what is deferred now; called by forceFlush and before shutdown. */
  drain?(): void;
  /** Lets go of timers; called once on shutdown. */
  close?(): void;
}

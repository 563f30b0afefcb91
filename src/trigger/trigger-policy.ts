import { diag, SpanStatusCode } from '@opentelemetry/api';
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
   * holds of it. Returns false when nothing of it is left.
   */
  flushTrace(traceId: string, reason: string): boolean;
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
   * undefined. Runs on every span: no allocation, no I/O, must not throw.
   */
  reason(span: ReadableSpan, localRoot: boolean): string | undefined;
  /** What to do with the trigger `reason` of `span` (trace `traceId`) at `now`. */
  decide(reason: string, traceId: string, span: ReadableSpan, now: number): TriggerDecision;
  /** Lets go of timers; called once on shutdown. */
  close?(): void;
}

/** What {@link DefaultTriggerPolicy} needs from the resolved options. */
export interface DefaultTriggerOptions {
  latency: boolean;
  error: boolean;
  latencyThresholdMs: number;
  shouldTrigger: ((span: ReadableSpan) => string | undefined) | undefined;
}

function durationMs(t: readonly [number, number]): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

/**
 * Today's triggers: a local root that ends with status ERROR (`error`), one
 * slower than `latencyThresholdMs` (`latency`), and `shouldTrigger` on any
 * span. Every trigger flushes at once.
 * @internal
 */
export class DefaultTriggerPolicy implements TriggerPolicy {
  private _warnedShouldTrigger = false;

  constructor(private readonly _o: DefaultTriggerOptions) {}

  reason(span: ReadableSpan, localRoot: boolean): string | undefined {
    const o = this._o;
    if (localRoot) {
      if (o.error && span.status.code === SpanStatusCode.ERROR) return 'error';
      if (o.latency && durationMs(span.duration) > o.latencyThresholdMs) return 'latency';
    }
    return o.shouldTrigger === undefined ? undefined : this._custom(span);
  }

  decide(): TriggerDecision {
    return 'flush';
  }

  private _custom(span: ReadableSpan): string | undefined {
    try {
      const name = this._o.shouldTrigger!(span);
      return typeof name === 'string' && name !== '' ? name : undefined;
    } catch (error) {
      if (!this._warnedShouldTrigger) {
        this._warnedShouldTrigger = true;
        diag.warn(`otel-flight-recorder: shouldTrigger threw; treating as no trigger: ${error}`);
      }
      return undefined;
    }
  }
}

import { diag, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { TriggerEvidence } from '../marks.js';
import { timerDelay } from '../timer.js';
import { BURST_SECONDS, FlushBudget } from './flush-budget.js';
import { RouteThresholds } from './route-thresholds.js';
import { score, SlowestFirst } from './slowest-first.js';
import type { TriggerDecision, TriggerHost, TriggerPolicy } from './trigger-policy.js';

/** How long triggers are collected, once the budget runs low, before the best of them flush. */
export const COLLECT_MS = 200;
/**
 * The most triggers one interval keeps in reach: the processor keeps the
 * records of this many deferred traces (its MAX_DEFERRED).
 */
export const MAX_CANDIDATES = 256;
/** What {@link FlushPolicy} needs from the resolved options. */
export interface FlushPolicyOptions {
  latency: boolean;
  error: boolean;
  /** A fixed threshold in ms, or a percentile such as `'p99'`. */
  latencyThresholdMs: number | string;
  /** The threshold of a route until it has enough samples for its percentile, in ms. */
  latencyFloorMs: number;
  maxTracesPerSecond: number;
  shouldTrigger: ((span: ReadableSpan) => string | undefined) | undefined;
}

/** The percentile of `'p99'` (99), or undefined for a fixed threshold. */
export function percentileOf(threshold: number | string): number | undefined {
  return typeof threshold === 'string' ? Number(threshold.slice(1)) : undefined;
}

function durationMs(t: readonly [number, number] | undefined): number {
  return Array.isArray(t) ? t[0] * 1e3 + t[1] / 1e6 : Number.NaN;
}

/** Distinct trigger names counted apart in `stats()`; later ones count under {@link OTHER_TRIGGERS}. */
export const MAX_TRIGGER_NAMES = 64;
/** Where triggers past the first {@link MAX_TRIGGER_NAMES} names are counted. */
export const OTHER_TRIGGERS = 'other';

/** An empty count by trigger name (no prototype: a trigger may be named `toString`). */
export function triggerCounts(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

/**
 * Counts one trigger of `name` in `counts`, bounded: a `shouldTrigger` that
 * names its triggers after URLs must not grow memory.
 */
export function countTrigger(counts: Record<string, number>, name: string): void {
  const n = counts[name];
  if (n !== undefined) {
    counts[name] = n + 1;
    return;
  }
  const key = Object.keys(counts).length < MAX_TRIGGER_NAMES ? name : OTHER_TRIGGERS;
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Whether `span` ended in error; a span without a status did not. */
function isError(span: ReadableSpan): boolean {
  return span.status?.code === SpanStatusCode.ERROR;
}

/**
 * The triggers and the flush budget.
 *
 * Triggers: a local root that ends with status ERROR (`error`); one slower
 * than its threshold (`latency`), fixed or the recent percentile of its
 * route ({@link RouteThresholds}); `shouldTrigger` on any span.
 *
 * Budget ({@link FlushBudget}, `maxTracesPerSecond`, a burst of two
 * seconds' worth): while more than half the burst is left, a trigger
 * flushes at once, as it always did. Below that (a storm), triggers are
 * collected for {@link COLLECT_MS}; then the errors and, after them, the
 * slowest roots of the interval flush, as many as there are tokens, and the
 * others are suppressed: counted by reason, their spans left in the ring
 * (a later window flush may still carry them), one warning per storm.
 * Collected triggers are deferred (the processor keeps their records in
 * reach) for one interval only, far shorter than any ring holds spans.
 */
export class FlushPolicy implements TriggerPolicy {
  /** The budget every trace flush of this recorder spends from. */
  readonly budget: FlushBudget;
  readonly suppressed: Record<string, number> = triggerCounts();
  private readonly _o: FlushPolicyOptions;
  private readonly _fixedMs: number;
  private readonly _routes: RouteThresholds | undefined;
  private readonly _percentile: number | undefined;
  private readonly _collected: SlowestFirst;
  /** The threshold the last `latency` reason was judged against, in ms. */
  private _lastThresholdMs = Number.NaN;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _storm = false;
  private _warnedShouldTrigger = false;
  private _closed = false;

  constructor(
    options: FlushPolicyOptions,
    private readonly _host: TriggerHost,
  ) {
    this._o = options;
    const rate = options.maxTracesPerSecond;
    this.budget = new FlushBudget(rate, rate * BURST_SECONDS, _host.now());
    this._percentile = percentileOf(options.latencyThresholdMs);
    this._fixedMs =
      typeof options.latencyThresholdMs === 'number' ? options.latencyThresholdMs : Number.NaN;
    this._routes =
      this._percentile === undefined
        ? undefined
        : new RouteThresholds(this._percentile, options.latencyFloorMs, _host.now);
    // What one interval can flush: the half burst left plus what it refills.
    const capacity = Math.ceil(this.budget.burst / 2 + (rate * COLLECT_MS) / 1_000) + 1;
    this._collected = new SlowestFirst(Math.min(MAX_CANDIDATES, capacity));
  }

  reason(span: ReadableSpan, localRoot: boolean, now: number): string | undefined {
    const o = this._o;
    if (localRoot) {
      const ms = durationMs(span.duration);
      let threshold = this._fixedMs;
      const routes = this._routes;
      if (o.latency && routes !== undefined && ms >= 0) {
        // Every root feeds its route's percentile, errors too, at the
        // recorder's clock: a span's own end time may be years off.
        threshold = routes.observe(String(span.name), ms, now);
      }
      if (o.error && isError(span)) return 'error';
      if (o.latency && ms > threshold) {
        this._lastThresholdMs = threshold;
        return 'latency';
      }
    }
    return o.shouldTrigger === undefined ? undefined : this._custom(span);
  }

  /** Why the last `latency` trigger fired: its threshold and percentile. */
  evidence(reason: string): TriggerEvidence | undefined {
    return reason === 'latency' ? this._evidence(this._lastThresholdMs) : undefined;
  }

  decide(reason: string, traceId: string, span: ReadableSpan, now: number): TriggerDecision {
    const budget = this.budget;
    if (this._timer === undefined) {
      const tokens = budget.tokens(now);
      // A full bucket ends the storm: the next one warns again.
      if (this._storm && tokens >= budget.burst) this._storm = false;
      if (tokens > budget.burst / 2 && budget.tryTake(now)) return 'flush';
      this._timer = setTimeout(() => this._closeInterval(), timerDelay(COLLECT_MS));
      this._timer.unref();
    }
    // Over budget (the common case in a storm) this is a comparison and a counter.
    const s = score(isError(span), durationMs(span.duration));
    const collected = this._collected;
    if (!collected.wouldKeep(s)) {
      // A large budget may have tokens beyond what the interval keeps.
      if (budget.tokens(now) - collected.size >= 1 && budget.tryTake(now)) return 'flush';
      this._suppress(reason);
      return 'suppress';
    }
    const thresholdMs = reason === 'latency' ? this._lastThresholdMs : Number.NaN;
    const displaced = collected.keep({ traceId, reason, score: s, thresholdMs });
    if (displaced !== undefined) {
      this._suppress(displaced.reason);
      this._host.forget(displaced.traceId);
    }
    return 'defer';
  }

  /** The current latency thresholds in ms, by route (`*`: every route, or the routes past the cap). */
  thresholds(): Record<string, number> {
    if (this._routes !== undefined) return this._routes.snapshot();
    return this._o.latency ? { '*': this._fixedMs } : {};
  }

  /** Flushes what the current interval collected now (forceFlush, shutdown). */
  drain(): void {
    if (this._timer !== undefined) this._closeInterval();
  }

  close(): void {
    this._closed = true;
    clearTimeout(this._timer);
    this._timer = undefined;
    for (const c of this._collected.drain()) this._suppress(c.reason);
  }

  private _closeInterval(): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    const best = this._collected.drain();
    if (this._closed) return;
    const host = this._host;
    const now = host.now();
    for (const c of best) {
      // A trace whose spans left the ring already spends no token.
      if (
        this.budget.tokens(now) >= 1 &&
        host.flushTrace(c.traceId, c.reason, this._evidence(c.thresholdMs))
      ) {
        this.budget.tryTake(now);
      } else {
        this._suppress(c.reason);
        host.forget(c.traceId);
      }
    }
  }

  private _suppress(reason: string): void {
    countTrigger(this.suppressed, reason);
    if (this._storm) return;
    this._storm = true;
    diag.warn(
      `otel-flight-recorder: triggers exceed the flush budget of ${this.budget.ratePerSecond} traces/s; flushing errors and then the slowest roots first, the others stay in the buffer (counted in stats().triggersSuppressed; one warning per storm)`,
    );
  }

  private _evidence(thresholdMs: number): TriggerEvidence | undefined {
    if (Number.isNaN(thresholdMs)) return undefined;
    return this._percentile === undefined
      ? { thresholdMs }
      : { thresholdMs, percentile: this._percentile };
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

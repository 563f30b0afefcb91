import { LatencySketch } from './latency-sketch.js';

/** How many routes get a sketch of their own; later ones share one. */
export const MAX_ROUTES = 64;
/** The key of the shared sketch in {@link RouteThresholds.snapshot}. */
export const OTHER_ROUTES = '*';
/** Each half of a sketch's window: the percentile covers the last 2.5 to 5 minutes. */
export const HALF_WINDOW_MS = 150_000;
/** A route's threshold is worked out again after this many samples (or when its window turns). */
const RECOMPUTE_EVERY = 32;
/** A route has enough samples for its percentile from this many on, at least. */
const MIN_SAMPLES = 50;

/** One sketch and the threshold last worked out from it. */
interface Route {
  readonly sketch: LatencySketch;
  thresholdMs: number;
  sinceComputed: number;
}

/**
 * Latency thresholds that follow each route: per local-root span name, the
 * `percentile` of its recent durations (see {@link LatencySketch}). Until a
 * route has enough samples (at least 50, and enough that the percentile is
 * not simply the slowest one: 2 / (1 - q), 200 for p99) its threshold is
 * `floorMs`. Bounded: {@link MAX_ROUTES} sketches of their own, then one
 * shared by every other route.
 */
export class RouteThresholds {
  private readonly _routes = new Map<string, Route>();
  private _shared: Route | undefined;
  private readonly _q: number;
  private readonly _minSamples: number;

  /**
   * @param percentile Between 0 and 100 exclusive, e.g. 99.
   * @param floorMs The threshold until a route has enough samples, in ms.
   */
  constructor(
    readonly percentile: number,
    private readonly _floorMs: number,
    private readonly _now: () => number,
  ) {
    this._q = percentile / 100;
    this._minSamples = Math.max(MIN_SAMPLES, Math.ceil(2 / (1 - this._q)));
  }

  /**
   * Adds a root of `route` lasting `ms` that ended at `endMs`, and returns
   * the route's threshold now, in ms. No allocation once the route is known.
   */
  observe(route: string, ms: number, endMs: number): number {
    let r = this._routes.get(route);
    if (r === undefined) r = this._add(route, endMs);
    const turned = r.sketch.add(ms, endMs);
    if (turned || ++r.sinceComputed >= RECOMPUTE_EVERY) this._compute(r);
    return r.thresholdMs;
  }

  /** The current threshold of each route seen, in ms; `*` for the shared one. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, r] of this._routes) out[name] = round(r.thresholdMs);
    if (this._shared !== undefined) out[OTHER_ROUTES] = round(this._shared.thresholdMs);
    return out;
  }

  private _add(route: string, now: number): Route {
    if (this._routes.size >= MAX_ROUTES) {
      this._shared ??= this._route(now);
      return this._shared;
    }
    const r = this._route(now);
    this._routes.set(route, r);
    return r;
  }

  private _route(now: number): Route {
    return {
      sketch: new LatencySketch(HALF_WINDOW_MS, Number.isFinite(now) ? now : this._now()),
      thresholdMs: this._floorMs,
      sinceComputed: 0,
    };
  }

  private _compute(r: Route): void {
    r.sinceComputed = 0;
    r.thresholdMs = r.sketch.count < this._minSamples ? this._floorMs : r.sketch.quantile(this._q);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

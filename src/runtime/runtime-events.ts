import { diag } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ContributorFlush, FlushContributor } from '../flush/contributors.js';
import { GC, RuntimeRing, SAMPLE, STALL } from './runtime-ring.js';
import { attachEvents, runtimeTrack, stallSpan } from './runtime-spans.js';
import { processSources, type RuntimeSources, type SourceHandle } from './sources.js';

/**
 * How many events the ring holds: 2048 of 40 bytes, 80 KiB, whatever the
 * load. A busy service sees a scavenge every 50-200 ms and a major GC every
 * few seconds; at 20 events a second the ring holds well over a minute, six
 * times the default `minAgeMs`.
 */
export const RUNTIME_RING_EVENTS = 2048;
/**
 * How long events stay at least as long as spans do, but at least a minute:
 * a request that lasted longer than `minAgeMs` still finds the pauses of its
 * start.
 */
const MIN_AGE_MS = 60_000;
/** The most spans a flush gets from runtime events attached to its traces. */
export const MAX_ATTACHED_PER_FLUSH = 1024;
/** Trace flushes record a heap and utilization sample at most this often, in ms. */
const MIN_SAMPLE_INTERVAL_MS = 1_000;

/** What the runtime events need from the recorder. @internal */
export interface RuntimeHost {
  /** Asks for a window flush for `reason`, through the recorder's trigger policy. */
  triggerWindow(reason: string, span: ReadableSpan): void;
  /** The recorder's clock, epoch ms. */
  now(): number;
}

/** @internal */
export interface RuntimeEventsOptions {
  stallThresholdMs: number;
  /** 0: stalls never trigger. */
  stallTriggerMs: number;
  minAgeMs: number;
}

/**
 * GC pauses and event-loop stalls, recorded always into a small ring of
 * their own, and added to flushes: each overlapping a flushed span becomes a
 * child of the innermost such span of its trace, and a window flush also
 * gets the `process runtime` track. A stall of `stallTriggerMs` or more asks
 * for an `event-loop-stall` window flush.
 * @internal
 */
export class RuntimeEvents implements FlushContributor {
  readonly counters = { gcPausesRecorded: 0, stallsRecorded: 0, runtimeEventsAttached: 0 };
  private readonly _ring: RuntimeRing;
  private _sources: RuntimeSources;
  private _handles: SourceHandle[] = [];
  /** Events from this seq on have not been in a runtime track yet. */
  private _trackedSeq = 0;
  private _lastTrackMs: number | undefined;
  private _resource: ReadableSpan['resource'] | undefined;
  /** The stall recorded last, so one seen again as it goes on widens it. */
  private _lastStall: { id: number; seq: number; startMs: number; endMs: number } | undefined;
  /** When a flush last took a sample (ms, the host's clock). */
  private _lastSampleMs = Number.NEGATIVE_INFINITY;
  private _flushing = false;
  private _warned = false;

  constructor(
    private readonly _o: RuntimeEventsOptions,
    private readonly _host: RuntimeHost,
    sources: RuntimeSources = processSources(),
  ) {
    this._ring = new RuntimeRing(RUNTIME_RING_EVENTS, Math.max(_o.minAgeMs, MIN_AGE_MS));
    this._sources = sources;
    this._start();
  }

  /** Bytes the ring takes. */
  get ringBytes(): number {
    return this._ring.bytes;
  }

  /**
   * Stops the current sources and starts `sources`; the ring is emptied.
   * @internal For tests, which inject their own events.
   */
  _useSources(sources: RuntimeSources): void {
    this.stop();
    this._ring.clear();
    this._lastStall = undefined;
    this._trackedSeq = this._ring.nextSeq;
    this._sources = sources;
    this._start();
  }

  stop(): void {
    for (const handle of this._handles.splice(0)) {
      try {
        handle.stop();
      } catch (error) {
        this._warnOnce(error);
      }
    }
  }

  private _start(): void {
    // Each on its own: a runtime without 'gc' entries still gets stalls.
    try {
      this._handles.push(
        this._sources.gc((start, end, kind, flags) => this._gc(start, end, kind, flags)),
      );
    } catch (error) {
      this._warnOnce(error);
    }
    try {
      this._handles.push(
        this._sources.stalls(this._o.stallThresholdMs, (start, end, late, id) =>
          this._stall(start, end, late, id),
        ),
      );
    } catch (error) {
      this._warnOnce(error);
    }
  }

  private _gc(startMs: number, endMs: number, kind: number, flags: number): void {
    if (!(endMs >= startMs)) return;
    this.counters.gcPausesRecorded++;
    this._ring.push(GC, startMs, endMs, kind, flags);
  }

  private _stall(startMs: number, endMs: number, lateMs: number, id: number): void {
    if (!(endMs >= startMs)) return;
    // A stall seen before, by a flush's check (the source says so by its
    // id): the event recorded then is widened to what the source sees now.
    const last = this._lastStall;
    let before = 0;
    if (last !== undefined && last.id === id) {
      if (!this._ring.extend(last.seq, startMs, endMs, lateMs)) return;
      before = last.endMs - last.startMs;
      startMs = Math.min(startMs, last.startMs);
      endMs = Math.max(endMs, last.endMs);
      last.startMs = startMs;
      last.endMs = endMs;
    } else {
      this.counters.stallsRecorded++;
      this._lastStall = { id, seq: this._ring.nextSeq, startMs, endMs };
      this._ring.push(STALL, startMs, endMs, lateMs, 0);
    }
    const trigger = this._o.stallTriggerMs;
    // Once per block: when it first reaches the trigger's length.
    if (trigger <= 0 || endMs - startMs < trigger || before >= trigger) return;
    const ask = (): void => {
      try {
        const event = { seq: -1, type: STALL, startMs, endMs, a: lateMs, b: 0 };
        this._host.triggerWindow('event-loop-stall', stallSpan(event, this._resource));
      } catch (error) {
        this._warnOnce(error);
      }
    };
    // Seen while a flush asks for its events: the window flush comes after it.
    if (this._flushing) setTimeout(ask, 0).unref();
    else ask();
  }

  contribute(flush: ContributorFlush): ReadableSpan[] | undefined {
    this._flushing = true;
    try {
      for (const handle of this._handles) handle.check();
      const now = this._host.now();
      const window = flush.scope === 'window';
      // A sample a window flush, or a second at most: trace flushes may come
      // tens a second, and a sample each would push the pauses and stalls
      // they are there to show out of the ring.
      const sampled = window || !(now - this._lastSampleMs < MIN_SAMPLE_INTERVAL_MS);
      const sample = sampled ? this._sources.sample() : undefined;
      if (flush.resource !== undefined) this._resource = flush.resource;
      const events = this._ring.read(now);
      // A window flush attaches to its triggering trace only; the runtime
      // track shows every pause beside the window's other traces. Matching a
      // window of tens of thousands of spans against every pause cost the
      // flush's synchronous step several times what the flush itself costs.
      const first = flush.traceId;
      const spans = !window ? flush.spans : first === undefined ? [] : flush.spansOfTrace(first);
      const attached = attachEvents(events, spans, first, MAX_ATTACHED_PER_FLUSH);
      this.counters.runtimeEventsAttached += attached.length;
      if (window && sample !== undefined && this._resource !== undefined) {
        const since = events.filter((e) => e.seq >= this._trackedSeq);
        // From the previous track, else the window's oldest span (runtimeTrack
        // takes the earliest of this, the events and the samples).
        let startMs = this._lastTrackMs ?? flush.oldestStartMs ?? now;
        for (const span of spans) startMs = Math.min(startMs, span.startMs);
        attached.push(
          ...runtimeTrack({
            events: since,
            startMs,
            endMs: now,
            heapUsed: sample.heapUsed,
            utilization: sample.utilization,
            resource: this._resource,
            max: RUNTIME_RING_EVENTS,
          }),
        );
        this._lastTrackMs = now;
        this._trackedSeq = this._ring.nextSeq;
      }
      // After the track: this flush's sample shows in the next one's events.
      if (sample !== undefined) {
        this._ring.push(SAMPLE, now, now, sample.heapUsed, sample.utilization);
        this._lastSampleMs = now;
      }
      return attached;
    } finally {
      this._flushing = false;
    }
  }

  private _warnOnce(error: unknown): void {
    if (this._warned) return;
    this._warned = true;
    diag.warn(
      `otel-flight-recorder: runtime events failed (further errors are silent): ${String(error)}`,
    );
  }
}

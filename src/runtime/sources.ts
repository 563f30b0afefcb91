import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * Where runtime events come from. The real ones observe this process; tests
 * inject their own, so no unit test depends on real GC or scheduler timing.
 * A source calls `emit` with epoch-millisecond times on the clock spans use,
 * and returns a handle that stops it.
 * @internal
 */
export interface RuntimeSources {
  /** GC pauses: `emit(startMs, endMs, kind, flags)`. */
  gc(emit: (startMs: number, endMs: number, kind: number, flags: number) => void): SourceHandle;
  /**
   * Event-loop stalls of at least `thresholdMs`: `emit(startMs, endMs, lateMs, id)`,
   * where `lateMs` is how late the detector's timer ran, and `id` is the
   * same each time one stall is emitted again as it goes on (by a flush's
   * `check()` inside or after it, then by the detector's tick) and new for
   * the next stall, even one that starts where the previous one ended.
   */
  stalls(thresholdMs: number, emit: StallEmit): SourceHandle;
  /** The heap in use now (bytes) and the event-loop utilization since the previous call (0..1). */
  sample(): { heapUsed: number; utilization: number };
}

/** @internal */
export type StallEmit = (startMs: number, endMs: number, lateMs: number, id: number) => void;

/** @internal */
export interface SourceHandle {
  stop(): void;
  /**
   * Emits now what the source has seen and not yet emitted (a flush calls it
   * first, so a pause that ended just before is not missed).
   */
  check(): void;
}

/**
 * The offset from the performance timeline to the clock spans use. The SDK
 * anchors each span's start to `Date.now()` and measures from there with
 * `performance.now()`, so a performance time plus this offset, read at about
 * the same moment, is on the spans' clock even when `performance.timeOrigin`
 * has drifted from the wall clock (it does, by milliseconds a day).
 */
function spanClockOffset(): number {
  return Date.now() - performance.now();
}

/** GC pauses from `PerformanceObserver` `'gc'` entries (kind, flags, start, duration). */
function observeGc(
  emit: (startMs: number, endMs: number, kind: number, flags: number) => void,
): SourceHandle {
  const take = (entries: readonly PerformanceEntry[]): void => {
    const offset = spanClockOffset();
    for (const entry of entries) {
      const detail = (entry as { detail?: { kind?: number; flags?: number } }).detail;
      const start = entry.startTime + offset;
      emit(start, start + entry.duration, detail?.kind ?? 0, detail?.flags ?? 0);
    }
  };
  // Entries reach the callback a little after the pause; takeRecords() hands
  // over those still waiting.
  const observer = new PerformanceObserver((list) => take(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop: () => observer.disconnect(),
    check: () => take(observer.takeRecords()),
  };
}

/**
 * Event-loop stalls, from an unref'd interval timer that checks how late it
 * runs, told apart from a process that was only descheduled (or a laptop
 * that slept) by libuv's idle time: a stall is a late tick during which the
 * loop was active, not idle. The stall's length is the loop's active time
 * since the previous tick (`performance.eventLoopUtilization()`), which
 * measures the blocking callback itself, where the lateness alone would
 * miss the part of it that ran before the tick was due. It ends when the
 * tick runs, the first thing the loop does once unblocked. Ticks every
 * half `thresholdMs` (at most 40 a second at the 50 ms default), each a few
 * microseconds.
 */
function detectStalls(thresholdMs: number, emit: StallEmit): SourceHandle {
  // Ticks twice per threshold: a block of the threshold holds a tick up by
  // at least half of it, wherever in the interval it starts.
  const interval = Math.max(10, Math.min(thresholdMs / 2, 1_000));
  let last = performance.now();
  let elu = performance.eventLoopUtilization();
  // Which period between two ticks this is: a stall is measured from the
  // tick before it, so what is emitted before the next tick is one stall.
  // Times cannot tell: the next stall starts right where this one ended, and
  // read through the 1 ms wall clock it can start up to a millisecond before.
  let period = 0;
  /**
   * A stall ended just now (or, from a flush inside the block, goes on) when
   * the tick was held up by at least `thresholdMs - interval` and the loop
   * was active for `thresholdMs` meanwhile. Short callbacks one after the
   * other hold no tick up that long, so a busy loop is not a stall.
   */
  const tick = (): void => {
    const now = performance.now();
    const late = now - last - interval;
    if (late < thresholdMs - interval) return;
    const active = performance.eventLoopUtilization().active - elu.active;
    if (active < thresholdMs) return;
    const end = now + spanClockOffset();
    emit(end - active, end, late, period);
  };
  const timer = setInterval(() => {
    tick();
    period++;
    last = performance.now();
    elu = performance.eventLoopUtilization();
  }, interval);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    // A flush right after a block, before the timer's tick, or inside it:
    // the block is seen now, and the tick (which alone starts over) widens
    // it to its whole length.
    check: tick,
  };
}

/**
 * This process's own runtime. Each call makes a new set, whose samples of
 * utilization run from its own previous sample (the first from the call). The heap is read from V8
 * (`getHeapStatistics`), not `process.memoryUsage()`, which reads
 * `/proc` synchronously for the RSS.
 */
export function processSources(): RuntimeSources {
  // The first sample runs from here (the recorder starting): without a
  // previous reading, Node measures from `current` to now, about 0 ms,
  // and reads 1 however idle the process was.
  let last = performance.eventLoopUtilization();
  return {
    gc: observeGc,
    stalls: detectStalls,
    sample() {
      const current = performance.eventLoopUtilization();
      const utilization = performance.eventLoopUtilization(current, last).utilization;
      last = current;
      return { heapUsed: getHeapStatistics().used_heap_size, utilization };
    },
  };
}

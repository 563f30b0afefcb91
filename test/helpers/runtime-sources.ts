import type { RuntimeSources, StallEmit } from '../../src/runtime/sources.js';

/**
 * Runtime sources a test drives: `gc(...)` and `stall(...)` emit pauses at
 * the times given (epoch ms), `sample` is fixed. No real GC or scheduler
 * timing reaches a test that uses them.
 */
export class FakeRuntimeSources implements RuntimeSources {
  heapUsed = 12_345_678;
  utilization = 0.25;
  thresholdMs: number | undefined;
  checks = 0;
  stopped = 0;
  private _gc: ((s: number, e: number, kind: number, flags: number) => void) | undefined;
  private _stall: StallEmit | undefined;
  private _stallId = 0;

  gc(emit: (s: number, e: number, kind: number, flags: number) => void) {
    this._gc = emit;
    return this._handle();
  }

  stalls(thresholdMs: number, emit: StallEmit) {
    this.thresholdMs = thresholdMs;
    this._stall = emit;
    return this._handle();
  }

  sample() {
    return { heapUsed: this.heapUsed, utilization: this.utilization };
  }

  /** A GC pause from `startMs` to `endMs`; `kind` as V8 names it (4 major, 1 minor). */
  emitGc(startMs: number, endMs: number, kind = 4, flags = 0): void {
    this._gc!(startMs, endMs, kind, flags);
  }

  /**
   * An event-loop stall from `startMs` to `endMs`: a new one, or, given the
   * `id` an earlier call returned, that stall seen again as it goes on.
   */
  emitStall(startMs: number, endMs: number, id = ++this._stallId): number {
    this._stall!(startMs, endMs, endMs - startMs, id);
    return id;
  }

  private _handle() {
    return {
      stop: () => {
        this.stopped++;
      },
      check: () => {
        this.checks++;
      },
    };
  }
}

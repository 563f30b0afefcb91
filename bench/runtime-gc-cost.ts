// What always-on runtime capture costs per GC, measured where it is largest:
// a loop that does nothing but allocate, so it scavenges ~170 times a
// second, yielding every 2 ms as a service would. Capture (`RuntimeEvents`,
// as `runtimeEvents: true` starts it) runs in alternate 300 ms slices, pair
// by pair in alternating order; `v8.GCProfiler` counts the GCs of every
// slice, on and off alike. The extra CPU per GC, times a service's GC rate
// (the recorder's `gcPausesRecorded`), plus the stall detector's ticks,
// estimates the capture's share of that service's CPU; its spread says how
// far to trust that. A diagnostic, not part of `npm run bench`, whose
// scenario 5 measures the share in the HTTP service directly but cannot
// resolve 1% on this machine.
//   npx tsx bench/runtime-gc-cost.ts
import { GCProfiler } from 'node:v8';
import { RuntimeEvents } from '../src/runtime/runtime-events.js';
import { summarize } from './lib/stats.js';

const PAIRS = 40;
const SLICE_MS = 300;
const host = { triggerWindow: () => {}, now: () => Date.now() };
const options = { stallThresholdMs: 50, stallTriggerMs: 1_000, minAgeMs: 10_000 };

let junk: unknown[] = [];
/**
 * Allocates short-lived objects for `ms`, yielding to the event loop every
 * 2 ms, so the GC observer's callbacks and the stall detector's ticks run
 * inside the slice as they would in a service; returns the units of work.
 */
async function allocate(ms: number): Promise<number> {
  const until = performance.now() + ms;
  let units = 0;
  while (performance.now() < until) {
    const chunk = performance.now() + 2;
    while (performance.now() < chunk) {
      for (let i = 0; i < 1000; i++) junk.push({ i, s: `x${i}` });
      if (junk.length > 20_000) junk = [];
      units++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return units;
}

interface Slice {
  cpuPerUnit: number;
  gcs: number;
  cpuUs: number;
  /** GC entries the capture recorded during the slice. */
  recorded: number;
}

async function slice(on: boolean): Promise<Slice> {
  const profiler = new GCProfiler();
  profiler.start();
  const capture = on ? new RuntimeEvents(options, host) : undefined;
  const cpu0 = process.cpuUsage();
  const units = await allocate(SLICE_MS);
  const cpu = process.cpuUsage(cpu0);
  const recorded = capture?.counters.gcPausesRecorded ?? 0;
  capture?.stop();
  const gcs = profiler.stop()?.statistics.length ?? 0;
  const cpuUs = cpu.user + cpu.system;
  return { cpuPerUnit: cpuUs / units, gcs, cpuUs, recorded };
}

await allocate(1_000);
const extraPerGc: number[] = [];
const share: number[] = [];
let gcs = 0;
let recorded = 0;
let onGcs = 0;
let seconds = 0;
for (let p = 0; p < PAIRS; p++) {
  const first = await slice(p % 2 === 0);
  const second = await slice(p % 2 !== 0);
  const [on, off] = p % 2 === 0 ? [first, second] : [second, first];
  // The on slice's extra CPU, at the off slice's cost per unit of work.
  const units = on.cpuUs / on.cpuPerUnit;
  const extraUs = on.cpuUs - units * off.cpuPerUnit;
  extraPerGc.push(extraUs / Math.max(1, on.gcs));
  share.push(on.cpuPerUnit / off.cpuPerUnit - 1);
  gcs += on.gcs + off.gcs;
  onGcs += on.gcs;
  recorded += on.recorded;
  seconds += (2 * SLICE_MS) / 1000;
}
const perGc = summarize(extraPerGc);
const s = summarize(share);
const sorted = [...share].sort((x, y) => x - y);
const q = (f: number) => sorted[Math.floor(f * (sorted.length - 1))]!;
console.log(
  `allocation loop, ${PAIRS} pairs of ${SLICE_MS} ms slices: ${(gcs / seconds).toFixed(0)} GCs a second ` +
    `(the capture recorded ${recorded} of the ${onGcs} in its slices); ` +
    `capture on costs ${(100 * s.median).toFixed(2)}% more CPU per unit of work ` +
    `(quartiles ${(100 * q(0.25)).toFixed(1)}% and ${(100 * q(0.75)).toFixed(1)}%), ` +
    `${perGc.median.toFixed(1)} µs per GC (median over pairs)`,
);

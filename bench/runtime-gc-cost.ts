// What always-on runtime capture costs per GC and per second, measured where
// it is largest: a loop that does nothing but allocate, so it scavenges
// ~170 times a second. Capture (`RuntimeEvents`, as `runtimeEvents: true`
// starts it) runs in alternate 300 ms slices, pair by pair in alternating
// order; `v8.GCProfiler` counts the GCs of every slice, on and off alike. The
// extra CPU per GC, times a service's GC rate (the recorder's
// `gcPausesRecorded`), plus the stall detector's ticks, bounds the capture's
// share of that service's CPU. A diagnostic, not part of `npm run bench`,
// whose scenario 5 measures the share in the HTTP service directly but cannot
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
/** Allocates short-lived objects for `ms`; returns the units of work done. */
function allocate(ms: number): number {
  const until = performance.now() + ms;
  let units = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) junk.push({ i, s: `x${i}` });
    if (junk.length > 20_000) junk = [];
    units++;
  }
  return units;
}

interface Slice {
  cpuPerUnit: number;
  gcs: number;
  cpuUs: number;
}

function slice(on: boolean): Slice {
  const profiler = new GCProfiler();
  profiler.start();
  const capture = on ? new RuntimeEvents(options, host) : undefined;
  const cpu0 = process.cpuUsage();
  const units = allocate(SLICE_MS);
  const cpu = process.cpuUsage(cpu0);
  capture?.stop();
  const gcs = profiler.stop()?.statistics.length ?? 0;
  const cpuUs = cpu.user + cpu.system;
  return { cpuPerUnit: cpuUs / units, gcs, cpuUs };
}

allocate(1_000);
const extraPerGc: number[] = [];
const share: number[] = [];
let gcs = 0;
let seconds = 0;
for (let p = 0; p < PAIRS; p++) {
  const first = slice(p % 2 === 0);
  await new Promise((resolve) => setImmediate(resolve));
  const second = slice(p % 2 !== 0);
  await new Promise((resolve) => setImmediate(resolve));
  const [on, off] = p % 2 === 0 ? [first, second] : [second, first];
  // The on slice's extra CPU, at the off slice's cost per unit of work.
  const units = on.cpuUs / on.cpuPerUnit;
  const extraUs = on.cpuUs - units * off.cpuPerUnit;
  extraPerGc.push(extraUs / Math.max(1, on.gcs));
  share.push(on.cpuPerUnit / off.cpuPerUnit - 1);
  gcs += on.gcs + off.gcs;
  seconds += (2 * SLICE_MS) / 1000;
}
const perGc = summarize(extraPerGc);
const s = summarize(share);
console.log(
  `allocation loop, ${PAIRS} pairs of ${SLICE_MS} ms slices: ${(gcs / seconds).toFixed(0)} GCs a second; ` +
    `capture on costs ${(100 * s.median).toFixed(2)}% more CPU per unit of work ` +
    `(min ${(100 * s.min).toFixed(1)}%, max ${(100 * s.max).toFixed(1)}%), ` +
    `${perGc.median.toFixed(1)} µs per GC (median over pairs)`,
);

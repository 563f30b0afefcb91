// The real stall detector (src/runtime/sources.ts), on this process's own
// event loop: blocks made with a busy wait, at any phase of its timer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeEvents } from '../src/runtime/runtime-events.js';
import { processSources, type RuntimeSources } from '../src/runtime/sources.js';

const block = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};
const turn = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

test('every block of the threshold or longer is a stall, wherever it starts in the timer interval', async () => {
  const stalls: [number, number][] = [];
  const handle = processSources().stalls(50, (start, end) => stalls.push([start, end]));
  try {
    for (let i = 0; i < 12; i++) {
      // Phases spread over the interval (25 ms at this threshold).
      await turn(40 + ((i * 7) % 25));
      block(60);
    }
    await turn(60);
  } finally {
    handle.stop();
  }
  assert.equal(stalls.length, 12, JSON.stringify(stalls));
  for (const [start, end] of stalls) assert.ok(end - start >= 55, `${end - start} ms`);
});

test('blocks one right after the other are each a stall of their own, recorded and attached', async () => {
  const emitted: [number, number][] = [];
  const real = processSources();
  const sources: RuntimeSources = {
    ...real,
    stalls: (threshold, emit) =>
      real.stalls(threshold, (start, end, late, id) => {
        emitted.push([start, end]);
        emit(start, end, late, id);
      }),
  };
  const events = new RuntimeEvents(
    { stallThresholdMs: 50, stallTriggerMs: 0, minAgeMs: 10_000 },
    { triggerWindow: () => {}, now: () => Date.now() },
    sources,
  );
  try {
    await turn(30);
    for (let i = 0; i < 16; i++) {
      // The detector's tick runs (timers) between two blocks (immediates),
      // and the next block starts at once: its stall starts where the
      // previous one ended, give or take the wall clock's millisecond.
      await new Promise((resolve) => setImmediate(resolve));
      block(60);
    }
    await turn(60);
  } finally {
    events.stop();
  }
  assert.equal(emitted.length, 16, JSON.stringify(emitted));
  assert.equal(events.counters.stallsRecorded, 16, JSON.stringify(emitted));
  for (const [start, end] of emitted) assert.ok(end - start >= 55, `${end - start} ms`);
});

test('a busy loop of short callbacks is not a stall', async () => {
  const stalls: [number, number][] = [];
  // 200 ms, far above the 5 ms callbacks: on a loaded machine (tests run in
  // parallel on 2 cores) the OS itself can hold the process for 50 ms, which
  // the detector rightly reports.
  const handle = processSources().stalls(200, (start, end) => stalls.push([start, end]));
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < 1_000) {
      block(5);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    handle.stop();
  }
  assert.deepEqual(stalls, []);
});

test('a flush inside a block sees the stall so far, and the tick after it sees the whole block from the same start', async () => {
  const stalls: [number, number][] = [];
  const handle = processSources().stalls(50, (start, end) => stalls.push([start, end]));
  try {
    await turn(30);
    block(150);
    handle.check();
    block(150);
    await turn(60);
  } finally {
    handle.stop();
  }
  assert.equal(stalls.length, 2, JSON.stringify(stalls));
  const [[start1, end1], [start2, end2]] = stalls as [[number, number], [number, number]];
  assert.ok(end1 - start1 >= 145 && end1 - start1 < 250, `${end1 - start1} ms so far`);
  assert.ok(Math.abs(start2 - start1) <= 1, 'the same start');
  assert.ok(end2 - start2 >= 295, `${end2 - start2} ms in all`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FlushedTraces,
  MAX_FLUSHED_TRACES,
  MAX_WINDOW_FLUSHES,
} from '../src/flush/flushed-traces.js';
import type { OpenTrace } from '../src/record/open-traces.js';

const trace = (n: number) => n.toString(16).padStart(32, '0');
const open = (firstSeq: number): OpenTrace => ({ roots: 1, seqs: [], firstSeq, mark: undefined });

test('a late span follows its trace flush, and not a window flush as a trace flush', () => {
  const flushed = new FlushedTraces();
  const traceFlush = { snapshotId: 'a', trigger: 'error' };
  const windowFlush = { snapshotId: 'b', trigger: 'manual' };
  flushed.set(trace(1), traceFlush);
  flushed.windowTook(windowFlush, 10);
  assert.equal(flushed.lateMark(trace(1), undefined), traceFlush);
  assert.equal(flushed.traceMark(trace(1), undefined), traceFlush);
  // An open trace whose first record the window took follows the window flush ...
  assert.equal(flushed.lateMark(trace(2), open(3)), windowFlush);
  // ... which is no trace flush: that trace may still trigger its own.
  assert.equal(flushed.traceMark(trace(2), open(3)), undefined);
  // Records after the window flush did not leave with it.
  assert.equal(flushed.lateMark(trace(2), open(10)), undefined);
});

test('clear() forgets the trace flushes and the last window flush', () => {
  const flushed = new FlushedTraces();
  flushed.set(trace(1), { snapshotId: 'a', trigger: 'error' });
  flushed.windowTook({ snapshotId: 'b', trigger: 'manual' }, 10);
  flushed.clear();
  assert.equal(flushed.lateMark(trace(1), undefined), undefined);
  assert.equal(flushed.lateMark(trace(2), open(3)), undefined);
});

test('the oldest flushed trace is forgotten first, past the bound', () => {
  const flushed = new FlushedTraces();
  const mark = { snapshotId: 'a', trigger: 'error' };
  for (let i = 0; i <= MAX_FLUSHED_TRACES; i++) flushed.set(trace(i), mark);
  assert.equal(flushed.get(trace(0)), undefined);
  assert.equal(flushed.get(trace(1)), mark);
  // Set again, a trace is the newest: it outlives those set after it once.
  flushed.set(trace(1), mark);
  flushed.set(trace(MAX_FLUSHED_TRACES + 1), mark);
  assert.equal(flushed.get(trace(1)), mark);
  assert.equal(flushed.get(trace(2)), undefined);
});

test('a trace open across several window flushes follows the first that took its records', () => {
  const flushed = new FlushedTraces();
  const w1 = { snapshotId: 'w1', trigger: 'manual' };
  const w2 = { snapshotId: 'w2', trigger: 'manual' };
  flushed.windowTook(w1, 10);
  flushed.windowTook(w2, 20);
  assert.equal(flushed.lateMark(trace(1), open(3)), w1, 'its first records left with w1');
  assert.equal(flushed.lateMark(trace(2), open(15)), w2);
  assert.equal(flushed.lateMark(trace(3), open(20)), undefined, 'after both');
  // The oldest windows are forgotten past the bound: the oldest remembered stands in.
  for (let i = 0; i < MAX_WINDOW_FLUSHES; i++) {
    flushed.windowTook({ snapshotId: `x${i}`, trigger: 'manual' }, 30 + i);
  }
  assert.equal(flushed.lateMark(trace(1), open(3))?.snapshotId, 'x0');
});

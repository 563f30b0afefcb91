import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FlushedTraces,
  MAX_FLUSHED_TRACES,
  MAX_WINDOW_FLUSHES,
} from '../src/flush/flushed-traces.js';
import { ClosedTraces } from '../src/record/closed-traces.js';
import type { OpenTrace } from '../src/record/open-traces.js';

const trace = (n: number) => n.toString(16).padStart(32, '0');
const open = (firstSeq: number, closedLast = -1): OpenTrace => ({
  roots: 1,
  seqs: [],
  firstSeq,
  lastSeq: firstSeq,
  closedLast,
  mark: undefined,
});

test('a late span follows its trace flush, and not a window flush as a trace flush', () => {
  const flushed = new FlushedTraces();
  const traceFlush = { snapshotId: 'a', trigger: 'error' };
  const windowFlush = { snapshotId: 'b', trigger: 'manual' };
  flushed.set(trace(1), traceFlush);
  flushed.windowTook(windowFlush, 0, 10);
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
  flushed.windowTook({ snapshotId: 'b', trigger: 'manual' }, 0, 10);
  flushed.clear();
  assert.equal(flushed.lateMark(trace(1), undefined), undefined);
  assert.equal(flushed.lateMark(trace(2), open(3)), undefined);
});

test('the oldest flushed trace is forgotten first, past the bound', () => {
  const flushed = new FlushedTraces();
  const mark = { snapshotId: 'a', trigger: 'error' };
  for (let i = 0; i <= MAX_FLUSHED_TRACES; i++) flushed.set(trace(i), mark);
  assert.equal(flushed.lateMark(trace(0), undefined), undefined);
  assert.equal(flushed.lateMark(trace(1), undefined), mark);
  // Set again, a trace is the newest: it outlives those set after it once.
  flushed.set(trace(1), mark);
  flushed.set(trace(MAX_FLUSHED_TRACES + 1), mark);
  assert.equal(flushed.lateMark(trace(1), undefined), mark);
  assert.equal(flushed.lateMark(trace(2), undefined), undefined);
});

test('a trace open across several window flushes follows the first that took its records', () => {
  const flushed = new FlushedTraces();
  const w1 = { snapshotId: 'w1', trigger: 'manual' };
  const w2 = { snapshotId: 'w2', trigger: 'manual' };
  flushed.windowTook(w1, 0, 10);
  flushed.windowTook(w2, 10, 20);
  const one = open(3);
  assert.equal(flushed.lateMark(trace(1), one), w1, 'its first records left with w1');
  assert.equal(one.mark, w1, 'kept on the trace');
  assert.equal(flushed.lateMark(trace(2), open(15)), w2);
  assert.equal(flushed.lateMark(trace(3), open(20)), undefined, 'after both');
  // The oldest windows are forgotten past the bound: a trace that looked its
  // window up before keeps it; one whose window is forgotten gets none (never
  // the id of a window that took nothing of it).
  for (let i = 0; i < MAX_WINDOW_FLUSHES; i++) {
    flushed.windowTook({ snapshotId: `x${i}`, trigger: 'manual' }, 30 + i - 1, 30 + i);
  }
  assert.equal(flushed.lateMark(trace(1), one), w1);
  assert.equal(flushed.lateMark(trace(4), open(3)), undefined);
  assert.equal(flushed.lateMark(trace(5), open(29))?.snapshotId, 'x0');
});

test('a closed trace follows the window flush that took its first record, and none that did not', () => {
  const closed = new ClosedTraces(1024);
  const flushed = new FlushedTraces(closed);
  const w1 = { snapshotId: 'w1', trigger: 'manual' };
  const w2 = { snapshotId: 'w2', trigger: 'manual' };
  closed.closed(trace(1), 3);
  closed.closed(trace(2), 12);
  closed.closed(trace(3), 25);
  closed.closed(trace(4), 8);
  assert.equal(flushed.lateMark(trace(1), undefined), undefined, 'no window flush yet');
  flushed.windowTook(w1, 2, 10);
  // Records 10 and 11 aged out before the next window flush.
  flushed.windowTook(w2, 12, 20);
  assert.equal(flushed.lateMark(trace(1), undefined), w1);
  assert.equal(flushed.lateMark(trace(4), undefined), w1);
  assert.equal(flushed.lateMark(trace(2), undefined), w2);
  assert.equal(flushed.lateMark(trace(3), undefined), undefined, 'after both');
  assert.equal(flushed.lateMark(trace(5), undefined), undefined, 'never closed here');
  // A window flush is not the trace's own.
  assert.equal(flushed.traceMark(trace(1), undefined), undefined);
  // A trace flush's mark comes first.
  const own = { snapshotId: 'a', trigger: 'error' };
  flushed.set(trace(2), own);
  assert.equal(flushed.lateMark(trace(2), undefined), own);
  // Its first record gone before the window (evicted): it did not leave with it.
  const early = new FlushedTraces(closed);
  early.windowTook(w1, 5, 10);
  assert.equal(early.lateMark(trace(1), undefined), undefined);
  assert.equal(early.lateMark(trace(4), undefined), w1);
});

test('an open hop follows the window flush that took the closed hops before it', () => {
  const flushed = new FlushedTraces(new ClosedTraces(1024));
  const w = { snapshotId: 'w', trigger: 'manual' };
  flushed.windowTook(w, 2, 10);
  // No record of its own yet when the window went, and its earlier hops' records end at 4.
  assert.equal(flushed.lateMark(trace(1), open(12, 4)), w);
  assert.equal(flushed.lateMark(trace(1), open(-1, 4)), w);
  // Earlier hops that ended before what the window took (aged out), or after it, or none.
  assert.equal(flushed.lateMark(trace(1), open(12, 1)), undefined);
  assert.equal(flushed.lateMark(trace(1), open(12, 10)), undefined);
  assert.equal(flushed.lateMark(trace(1), open(12)), undefined);
  // A hop that starts after the window flush is given its mark at once.
  assert.equal(flushed.startMark(trace(1), 4), w);
  assert.equal(flushed.startMark(trace(1), 11), undefined);
});

import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import fc from 'fast-check';
import { RecorderClock } from '../src/record/recorder-clock.js';

const T0 = 1_800_000_000_000;
const SKEW = 1_000;
const HOUR = 3_600_000;

beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
afterEach(() => mock.timers.reset());

type Op =
  | { kind: 'wall'; by: number }
  | { kind: 'stamp'; late: number }
  | { kind: 'stamp-nan' }
  | { kind: 'now' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  // Mostly small steps forward; now and then NTP steps either way.
  fc.record({ kind: fc.constant('wall' as const), by: fc.integer({ min: 0, max: 3_000 }) }),
  fc.record({
    kind: fc.constant('wall' as const),
    by: fc.integer({ min: -2 * HOUR, max: 2 * HOUR }),
  }),
  // A record ending a little before or after now, or long before it.
  fc.record({ kind: fc.constant('stamp' as const), late: fc.integer({ min: -5_000, max: 5_000 }) }),
  fc.record({ kind: fc.constant('stamp' as const), late: fc.integer({ min: -HOUR, max: 0 }) }),
  fc.constant({ kind: 'stamp-nan' as const }),
  fc.constant({ kind: 'now' as const }),
);

test('the clock never goes back, and runs at least as fast as the wall clock whatever steps it took', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
      mock.timers.setTime(T0);
      const clock = new RecorderClock(SKEW);
      let last = Number.NEGATIVE_INFINITY;
      /** The last now() and the wall clock then; undefined once the wall stepped back since. */
      let previous: { now: number; wall: number } | undefined;
      for (const op of ops) {
        let reading: number;
        if (op.kind === 'wall') {
          const wall = Date.now() + op.by;
          mock.timers.setTime(wall);
          if (op.by < 0) previous = undefined;
          continue;
        } else if (op.kind === 'stamp' || op.kind === 'stamp-nan') {
          reading = clock.stamp(op.kind === 'stamp' ? Date.now() + op.late : Number.NaN);
        } else {
          reading = clock.now();
          const wall = Date.now();
          if (previous !== undefined) {
            const ran = reading - previous.now;
            const walked = wall - previous.wall;
            assert.ok(ran >= walked - SKEW, `ran ${ran} ms while the wall clock ran ${walked} ms`);
          }
          previous = { now: reading, wall };
        }
        assert.ok(Number.isFinite(reading), `${reading}`);
        assert.ok(reading >= last, `${reading} after ${last}`);
        last = reading;
        // Exported times stay on the wall clock, never behind it.
        assert.ok(clock.wallNow() >= Date.now());
      }
    }),
  );
});

test('until the wall clock steps back, the clock is the wall clock and the records own times', () => {
  const clock = new RecorderClock(SKEW);
  assert.equal(clock.stamp(T0 - 50), T0 - 50);
  // Ahead of the wall clock by less than the skew: the record's own time.
  assert.equal(clock.stamp(T0 + 900), T0 + 900);
  assert.equal(clock.now(), T0 + 900);
  assert.equal(clock.wallNow(), T0 + 900);
  // Further ahead: the wall clock's time. Before the last: the last.
  assert.equal(clock.stamp(T0 + 5_000), T0 + 900);
  mock.timers.setTime(T0 + 2_000);
  assert.equal(clock.stamp(T0 + 5_000), T0 + 2_000);
  assert.equal(clock.stamp(T0 + 1_500), T0 + 2_000);
  assert.equal(clock.stamp(T0 - HOUR), T0 + 2_000);
  mock.timers.setTime(T0 + 3_000);
  assert.equal(clock.now(), T0 + 3_000);
  assert.equal(clock.wallNow(), T0 + 3_000);
});

test('a step back of the wall clock is taken up: the clock goes on from where it was', () => {
  const clock = new RecorderClock(SKEW);
  mock.timers.setTime(T0 + HOUR);
  assert.equal(clock.stamp(T0 + HOUR), T0 + HOUR);
  mock.timers.setTime(T0);
  assert.equal(clock.stamp(T0), T0 + HOUR);
  mock.timers.setTime(T0 + 250);
  assert.equal(clock.now(), T0 + HOUR + 250);
  assert.equal(clock.stamp(T0 + 300), T0 + HOUR + 300);
  // Exported times are the wall clock's.
  assert.equal(clock.wallNow(), T0 + 300);
  // A step back of no more than the skew is not taken for one.
  mock.timers.setTime(T0 - 500);
  assert.equal(clock.now(), T0 + HOUR + 300);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { SpanDeque } from '../src/span-deque.js';

type Op =
  { kind: 'push'; tag: number; size: number } | { kind: 'shift' } | { kind: 'remove'; tag: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('push' as const),
      tag: fc.nat(5),
      size: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'shift' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), tag: fc.nat(5) }) },
);

test('SpanDeque behaves as a FIFO array with a byte sum, through growth and removals', () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 400 }),
      fc.integer({ min: 1, max: 8 }),
      (ops, initial) => {
        const deque = new SpanDeque<number>(initial);
        const moved = new SpanDeque<string>(1);
        let model: { span: ReadableSpan; tag: number; size: number; time: number }[] = [];
        let movedModel: ReadableSpan[] = [];
        let time = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const span = { name: `s${time}` } as ReadableSpan;
            deque.push(span, o.tag, o.size, time);
            model.push({ span, tag: o.tag, size: o.size, time });
            time++;
          } else if (o.kind === 'shift') {
            assert.equal(deque.shift(), model.shift()?.span);
          } else {
            const removed = deque.removeWhere((tag) => tag === o.tag, moved, 'moved');
            const gone = model.filter((e) => e.tag === o.tag);
            model = model.filter((e) => e.tag !== o.tag);
            movedModel = [...movedModel, ...gone.map((e) => e.span)];
            assert.equal(removed, gone.length);
          }
          assert.equal(deque.length, model.length);
          assert.equal(
            deque.bytes,
            model.reduce((n, e) => n + e.size, 0),
          );
          assert.equal(deque.headTime(), model[0]?.time ?? Number.POSITIVE_INFINITY);
          assert.equal(deque.headTag(), model[0]?.tag);
        }
        const seen: ReadableSpan[] = [];
        deque.forEach((span) => seen.push(span));
        assert.deepEqual(
          seen,
          model.map((e) => e.span),
        );
        const seenMoved: ReadableSpan[] = [];
        moved.forEach((span, tag) => {
          assert.equal(tag, 'moved');
          seenMoved.push(span);
        });
        assert.deepEqual(seenMoved, movedModel);
      },
    ),
    { numRuns: 300 },
  );
});

test('SpanDeque clears removed slots so their spans can be collected', () => {
  const deque = new SpanDeque<number>(4);
  for (let i = 0; i < 4; i++) deque.push({ name: `s${i}` } as ReadableSpan, i, 1, i);
  deque.shift();
  deque.removeWhere((tag) => tag === 2);
  const slots = (deque as unknown as { _spans: (ReadableSpan | undefined)[] })._spans;
  assert.equal(slots.filter((s) => s !== undefined).length, 2);
  deque.clear();
  assert.equal(slots.filter((s) => s !== undefined).length, 0);
});

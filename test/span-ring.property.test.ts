import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import fc from 'fast-check';
import { runWireBytes } from '../src/export/export-queue.js';
import { assembleRequest, encodeMarks } from '../src/flush/request.js';
import { recordWireBytes } from '../src/flush/request-layout.js';
import { INDEX_ENTRY_BYTES, LIVE, LONG_XLEN, OPEN, PINNED } from '../src/record/record-run.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { SpanEncoder } from '../src/record/span-encoder.js';
import { ringLayout, slotOf, SpanRing } from '../src/record/span-ring.js';
import { spanArb } from './helpers/span-arbitrary.js';

const counters = () => ({ spansEvictedByBytes: 0, spansEvictedByAge: 0, spansTooLarge: 0 });

/** A record of `size` bytes that is one plain field (a trace_state string), as the expander expects. */
function fieldOf(size: number, salt: number): Uint8Array {
  const payload = new Uint8Array(size).map((_, i) => (salt * 31 + i) & 0x7f);
  if (size < 2) return new Uint8Array(size).fill(0x50);
  const body = size - (size - 2 < 0x80 ? 2 : 3);
  payload[0] = 0x1a;
  if (size - 2 < 0x80) payload[1] = body;
  else {
    payload[1] = (body & 0x7f) | 0x80;
    payload[2] = body >>> 7;
  }
  return payload;
}

type Op =
  | { kind: 'append'; size: number; open: boolean }
  | { kind: 'remove'; pick: number }
  | { kind: 'age'; cutoff: number }
  | { kind: 'close'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      size: fc.integer({ min: 1, max: 700 }),
      open: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('age' as const), cutoff: fc.nat(400) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
);

test('the ring behaves as a FIFO of records within its bytes and index, through laps, removals, age and pinning', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 800, max: 5000 }),
      fc.integer({ min: 2, max: 40 }),
      fc.array(opArb, { maxLength: 200 }),
      (ringBytes, capacity, ops) => {
        const c = counters();
        const ring = new SpanRing(ringBytes, capacity, new SpanEncoder(), c);
        /** The model: live records in ring order, by seq, with their payload and time. */
        let model: {
          seq: number;
          payload: Uint8Array;
          time: number;
          open: boolean;
          checked: boolean;
        }[] = [];
        let time = 0;
        let appended = 0;
        for (const op of ops) {
          if (op.kind === 'append') {
            time++;
            const payload = fieldOf(op.size, appended);
            appended++;
            const seq = ring.appendBytes(payload, 0, time, op.open ? OPEN : 0);
            if (op.size > ringBytes / 2) {
              assert.equal(seq, -1);
              continue;
            }
            // Only the oldest records make room, and only as many as counted.
            const gone = model.filter((r) => !ring.isLive(r.seq));
            assert.deepEqual(gone, model.slice(0, gone.length), 'evicted records are the oldest');
            model = model.slice(gone.length);
            model.push({ seq, payload, time, open: op.open, checked: false });
          } else if (op.kind === 'remove' && model.length > 0) {
            const victim = model[op.pick % model.length]!;
            ring.remove(victim.seq);
            model = model.filter((r) => r !== victim);
          } else if (op.kind === 'close' && model.length > 0) {
            const r = model[op.pick % model.length]!;
            ring.setState(r.seq, ring.stateOf(r.seq) & ~OPEN);
            r.open = false;
          } else if (op.kind === 'age') {
            // Oldest first, each record once, up to the first younger one: open ones stay, pinned.
            const gone = new Set<number>();
            for (const r of model) {
              if (r.checked) continue;
              if (r.time >= op.cutoff) break;
              r.checked = true;
              if (!r.open) gone.add(r.seq);
            }
            const before = c.spansEvictedByAge;
            ring.evictOlderThan(op.cutoff);
            assert.equal(c.spansEvictedByAge - before, gone.size);
            for (const r of model) {
              if (gone.has(r.seq)) assert.ok(!ring.isLive(r.seq));
              else if (r.checked && r.open) assert.ok((ring.stateOf(r.seq) & PINNED) !== 0);
            }
            model = model.filter((r) => !gone.has(r.seq));
          }
          // Nothing else went, and what is held is intact.
          assert.ok(model.every((r) => ring.isLive(r.seq)));
          let bytes = 0;
          const seqs: number[] = [];
          ring.forEachLive((seq) => seqs.push(seq));
          assert.deepEqual(
            seqs,
            [...model].map((r) => r.seq).sort((a, b) => a - b),
          );
          for (const r of model) {
            assert.deepEqual(ring.record(r.seq), r.payload);
            assert.equal(ring.timeOf(r.seq), r.time);
            bytes += r.payload.length;
          }
          assert.equal(ring.length, model.length);
          assert.equal(ring.bytes, bytes);
          assert.ok(ring.bytes <= ringBytes);
          assert.ok(ring.length <= capacity);
        }
        assert.equal(ring.allocatedBytes, ringBytes + capacity * INDEX_ENTRY_BYTES);
      },
    ),
    { numRuns: 300 },
  );
});

test('eviction by age keeps records of open traces in place, marked pinned, checking each once', () => {
  const c = counters();
  const ring = new SpanRing(10_000, 100, new SpanEncoder(), c);
  const a = ring.appendBytes(new Uint8Array(10).fill(1), 0, 1, OPEN);
  const b = ring.appendBytes(new Uint8Array(10).fill(2), 0, 2, 0);
  const d = ring.appendBytes(new Uint8Array(10).fill(3), 0, 50, 0);
  ring.evictOlderThan(10);
  assert.equal(c.spansEvictedByAge, 1);
  assert.ok(ring.isLive(a) && !ring.isLive(b) && ring.isLive(d));
  assert.equal(ring.stateOf(a), LIVE | OPEN | PINNED);
  assert.deepEqual(ring.record(a), new Uint8Array(10).fill(1));
  assert.equal(ring.ageTime(), 50, 'the next record to check is the younger one');
  ring.evictOlderThan(10);
  assert.equal(ring.length, 2);
});

test('a record slot is seq % capacity for every sequence number below 2^53 and every capacity', () => {
  const seq = fc.oneof(
    fc.maxSafeNat(),
    fc.nat(),
    // Just either side of a multiple of the capacity, where a rounded quotient would show.
    fc.tuple(fc.nat({ max: 2 ** 21 }), fc.integer({ min: -2, max: 2 })),
  );
  fc.assert(
    fc.property(seq, fc.integer({ min: 1, max: 2 ** 32 }), (s, capacity) => {
      const n =
        typeof s === 'number'
          ? s
          : Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, s[0] * capacity + s[1]));
      assert.equal(slotOf(n, capacity), n % capacity);
    }),
    { numRuns: 20_000 },
  );
  for (const capacity of [1, 3, 7, 65_521, 91_703, 2 ** 31 - 1])
    for (const n of [2 ** 53 - 1, 2 ** 53 - 2, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1])
      assert.equal(slotOf(n, capacity), n % capacity);
});

test('maxBytes is split exactly between ring bytes and index', () => {
  for (const maxBytes of [1, 8_000, 20_000, 16 * 1024 * 1024, 123_457]) {
    const { ringBytes, capacity } = ringLayout(maxBytes);
    assert.ok(ringBytes + capacity * INDEX_ENTRY_BYTES <= maxBytes || capacity === 1);
    assert.equal(ringBytes + capacity * INDEX_ENTRY_BYTES, Math.max(maxBytes, INDEX_ENTRY_BYTES));
  }
});

test('encoded spans survive laps: what is live decodes to what the SDK writes for those spans', () => {
  fc.assert(
    fc.property(
      fc.array(spanArb(), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 3000, max: 20_000 }),
      (spans, ringBytes) => {
        const table = new ResourceScopeTable();
        const c = counters();
        const ring = new SpanRing(ringBytes, 16, new SpanEncoder(), c);
        const bySeq = new Map<number, (typeof spans)[number]>();
        for (const span of spans) {
          const seq = ring.append(
            span,
            span.spanContext(),
            table.idOf(span.resource, span.instrumentationScope),
            0,
            0,
          );
          if (seq >= 0) bySeq.set(seq, span);
        }
        const live: number[] = [];
        ring.forEachLive((seq) => live.push(seq));
        assert.equal(live.length + c.spansEvictedByBytes + c.spansTooLarge, spans.length);
        const kept = live.map((seq) => bySeq.get(seq)!);
        const run = ring.detach({ snapshotId: 'a', trigger: 'b' });
        if (kept.length === 0) return;
        const ours = assembleRequest(run, 0, run.entries, table, undefined);
        assert.equal(
          Buffer.compare(
            Buffer.from(ours),
            Buffer.from(ProtobufTraceSerializer.serializeRequest(kept)!),
          ),
          0,
        );
      },
    ),
    { numRuns: 200 },
  );
});

test('a window counts exactly its distinct trace ids, in any order and with removed records', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ trace: fc.integer({ min: 0, max: 40 }), removed: fc.boolean() }), {
        minLength: 1,
        maxLength: 300,
      }),
      fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 41, maxLength: 41 }),
      (records, ids) => {
        const ring = new SpanRing(1 << 20, 512, new SpanEncoder(), counters());
        const expected = new Set<string>();
        for (const { trace, removed } of records) {
          // A record whose first field is its 16 trace id bytes, as the encoder writes.
          const payload = new Uint8Array(22);
          payload.set([0x0a, 16], 0);
          payload.set(ids[trace]!, 2);
          payload.set([0x50, 0, 0x50, 0], 18);
          const seq = ring.appendBytes(payload, 0, 0, 0);
          if (removed) ring.remove(seq);
          else expected.add(Buffer.from(ids[trace]!).toString('hex'));
        }
        const run = ring.detach({ snapshotId: 's', trigger: 't' });
        assert.equal(run.distinctTraces(), expected.size);
      },
    ),
    { numRuns: 300 },
  );
});

test("a detached window's request bytes, from the ring's sums, are what reading every record gives", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 60 }),
      fc.array(
        fc.oneof(
          {
            weight: 6,
            arbitrary: fc.record({
              kind: fc.constant('append' as const),
              size: fc.integer({ min: 1, max: 300 }),
              // Expanded lengths on both sides of the sums' edges: 1-byte
              // varints with short marks, and the long records they leave out.
              xlen: fc.oneof(
                fc.integer({ min: 1, max: 200 }),
                fc.integer({ min: LONG_XLEN - 600, max: LONG_XLEN + 600 }),
                fc.integer({ min: 1, max: 20_000 }),
              ),
              open: fc.boolean(),
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
          },
          {
            weight: 1,
            arbitrary: fc.record({ kind: fc.constant('age' as const), cutoff: fc.nat(200) }),
          },
          { weight: 1, arbitrary: fc.record({ kind: fc.constant('detach' as const) }) },
        ),
        { maxLength: 150 },
      ),
      // Triggers from none to past the marks the sums allow; short ones put
      // the marks and a short record on either side of a 1-byte length.
      fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1100 })),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3000 })), { maxLength: 4 }),
      (capacity, ops, triggerLength, extras) => {
        const ring = new SpanRing(4000, capacity, new SpanEncoder(), counters());
        const seqs: number[] = [];
        let time = 0;
        for (const op of ops) {
          if (op.kind === 'append') {
            const seq = ring.appendBytes(
              fieldOf(op.size, time),
              0,
              ++time,
              op.open ? OPEN : 0,
              op.xlen,
            );
            if (seq >= 0) seqs.push(seq);
          } else if (op.kind === 'remove' && seqs.length > 0) {
            ring.remove(seqs[op.pick % seqs.length]!);
          } else if (op.kind === 'age') {
            ring.evictOlderThan(op.cutoff);
          } else if (op.kind === 'detach') {
            // The sums start again with the new ring.
            ring.detach({ snapshotId: 'a'.repeat(32), trigger: 'x' });
          }
        }
        const mark = { snapshotId: 'f'.repeat(32), trigger: 't'.repeat(triggerLength) };
        const run = ring.detach(mark);
        const live: number[] = [];
        for (let k = 0; k < run.entries; k++) {
          if ((run.state[run.slot(k)]! & LIVE) !== 0) live.push(run.slot(k));
        }
        if (live.length > 0 && extras.length > 0) {
          run.extra = new Map(
            extras.map(([pick, n]) => [live[pick % live.length]!, new Uint8Array(n)] as const),
          );
        }
        const marks = encodeMarks(mark).length;
        let expected = 0;
        for (const slot of live) {
          expected += recordWireBytes(
            run.xlen[slot]! + marks + (run.extra?.get(slot)?.length ?? 0),
          );
        }
        assert.equal(runWireBytes(run), expected);
      },
    ),
    { numRuns: 500 },
  );
});

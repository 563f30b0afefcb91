import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { decodeRecord } from '../src/export/span-decoder.js';
import { assembleRequest, encodeMarks } from '../src/flush/request.js';
import { type FlushMark, markSpan } from '../src/marks.js';
import { LIVE, type RecordRun } from '../src/record/record-run.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { SpanEncoder } from '../src/record/span-encoder.js';
import { SpanRing } from '../src/record/span-ring.js';
import { decodeRequest, spanArb } from './helpers/span-arbitrary.js';

const counters = () => ({ spansEvictedByBytes: 0, spansEvictedByAge: 0, spansTooLarge: 0 });

/** Records `spans` in a ring big enough for all of them and hands them over as one run. */
function record(spans: readonly ReadableSpan[], mark: FlushMark) {
  const table = new ResourceScopeTable();
  const ring = new SpanRing(8 << 20, 4096, new SpanEncoder(), counters());
  for (const span of spans) {
    const seq = ring.append(
      span,
      span.spanContext(),
      table.idOf(span.resource, span.instrumentationScope),
      0,
      0,
    );
    assert.ok(seq >= 0);
  }
  return { table, run: ring.detach(mark) };
}

function decodeRun(run: RecordRun, table: ResourceScopeTable, mark?: FlushMark): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  for (let k = 0; k < run.entries; k++) {
    const slot = run.slot(k);
    if ((run.state[slot]! & LIVE) === 0) continue;
    spans.push(decodeRecord(run, slot, table, mark !== undefined));
  }
  return spans;
}

const markArb = fc.record({
  snapshotId: fc.stringMatching(/^[0-9a-f]{16}$/),
  trigger: fc.oneof(fc.constantFrom('latency', 'error', 'manual'), fc.string({ minLength: 1 })),
});

test('a flushed request decodes (protobufjs, opentelemetry-proto) to what ProtobufTraceSerializer writes for the spans plus the marks and the sampled flag', () => {
  fc.assert(
    fc.property(fc.array(spanArb(), { minLength: 1, maxLength: 12 }), markArb, (spans, mark) => {
      const { table, run } = record(spans, mark);
      const ours = assembleRequest(run, 0, run.entries, table, encodeMarks(mark));
      const theirs = ProtobufTraceSerializer.serializeRequest(spans.map((s) => markSpan(s, mark)))!;
      assert.deepStrictEqual(decodeRequest(ours), decodeRequest(theirs));
    }),
    { numRuns: 300 },
  );
});

test('without marks, a request is byte for byte what ProtobufTraceSerializer writes', () => {
  fc.assert(
    fc.property(fc.array(spanArb(), { minLength: 1, maxLength: 8 }), (spans) => {
      const { table, run } = record(spans, { snapshotId: 'x', trigger: 'y' });
      const ours = assembleRequest(run, 0, run.entries, table, undefined);
      const theirs = ProtobufTraceSerializer.serializeRequest(spans)!;
      assert.deepStrictEqual(
        Buffer.from(ours).toString('hex'),
        Buffer.from(theirs).toString('hex'),
      );
    }),
    { numRuns: 200 },
  );
});

test('decoded spans serialize through JsonTraceSerializer exactly as the originals with their marks', () => {
  const decoder = new TextDecoder();
  fc.assert(
    fc.property(
      fc.array(spanArb(false), { minLength: 1, maxLength: 10 }),
      markArb,
      (spans, mark) => {
        const { table, run } = record(spans, mark);
        const decoded = decodeRun(run, table, mark);
        const ours = decoder.decode(JsonTraceSerializer.serializeRequest(decoded));
        const theirs = decoder.decode(
          JsonTraceSerializer.serializeRequest(spans.map((s) => markSpan(s, mark))),
        );
        assert.equal(ours, theirs);
      },
    ),
    { numRuns: 300 },
  );
});

test('a 1 MB attribute value and non-Latin-1 text round-trip exactly', () => {
  const [span] = fc.sample(spanArb(false), { numRuns: 1, seed: 7 });
  const big = 'ü€𝄞'.repeat(100_000) + 'x'.repeat(1 << 20);
  const withBig = { ...span!, attributes: { big, ascii: 'y'.repeat(1 << 20) } } as ReadableSpan;
  const mark = { snapshotId: '0123456789abcdef', trigger: 'manual' };
  const { table, run } = record([withBig], mark);
  const [decoded] = decodeRun(run, table);
  assert.equal(decoded!.attributes.big, big);
  assert.equal(decoded!.attributes.ascii, 'y'.repeat(1 << 20));
  const ours = assembleRequest(run, 0, run.entries, table, undefined);
  assert.deepStrictEqual(
    Buffer.compare(
      Buffer.from(ours),
      Buffer.from(ProtobufTraceSerializer.serializeRequest([withBig])!),
    ),
    0,
  );
});

/**
 * Spans of a few names whose keys mostly come in the same order and whose
 * values repeat: the encoder writes those from its per-name shapes (a value
 * the same as last time at its position is written as the interned
 * attribute's id). Over several laps of a small ring, so the intern tables
 * and their shapes are renewed while records of the last lap are still live,
 * with spans large enough to be encoded aside (and again in a new lap).
 */
test('repeated names, key orders and values, over laps of a small ring, are byte for byte what ProtobufTraceSerializer writes', () => {
  const [base] = fc.sample(spanArb(false), { numRuns: 1, seed: 11 });
  const keys = ['http.request.method', 'k', 'db.query.text'];
  const pool: unknown[] = [
    'GET',
    'POST',
    'ß'.repeat(70),
    'x'.repeat(150),
    200,
    1,
    -0,
    0,
    0.5,
    Number.NaN,
    2 ** 60,
    true,
    false,
    '1',
    // Larger than the room the ring keeps free: encoded aside, and again when that starts a lap.
    'z'.repeat(3000),
  ];
  const attrsArb = fc
    .uniqueArray(fc.tuple(fc.nat(keys.length - 1), fc.nat(pool.length - 1)), {
      maxLength: keys.length,
      selector: ([k]) => k,
    })
    .map((pairs) => Object.fromEntries(pairs.map(([k, v]) => [keys[k]!, pool[v]])));
  const spanShape = fc.record({
    name: fc.constantFrom('GET', 'auth.verify', 'db'),
    attributes: attrsArb,
    events: fc.array(fc.record({ name: fc.constantFrom('hit', 'miss'), attributes: attrsArb }), {
      maxLength: 2,
    }),
  });
  fc.assert(
    fc.property(fc.array(spanShape, { minLength: 50, maxLength: 400 }), (shapes) => {
      const spans = shapes.map(
        (s) =>
          ({
            ...base!,
            spanContext: base!.spanContext,
            name: s.name,
            attributes: s.attributes,
            events: s.events.map((e) => ({ ...e, time: base!.startTime })),
          }) as ReadableSpan,
      );
      const table = new ResourceScopeTable();
      const ring = new SpanRing(16 << 10, 4096, new SpanEncoder(), counters());
      const pair = table.idOf(base!.resource, base!.instrumentationScope);
      // A span too large for the ring (over half of it) is dropped and counted.
      const recorded = spans.filter(
        (span) => ring.append(span, span.spanContext(), pair, 0, 0) >= 0,
      );
      const run = ring.detach({ snapshotId: 'x', trigger: 'y' });
      const live = recorded.slice(recorded.length - run.length);
      const ours = assembleRequest(run, 0, run.entries, table, undefined);
      assert.deepStrictEqual(
        Buffer.from(ours).toString('hex'),
        Buffer.from(ProtobufTraceSerializer.serializeRequest(live)!).toString('hex'),
      );
    }),
    { numRuns: 60 },
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { decodeRecord } from '../src/export/span-decoder.js';
import { assembleRequest } from '../src/flush/request.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { InternTable, MAX_SHAPE_POSITIONS } from '../src/record/intern-table.js';
import { ProtobufWriter, WriterFull } from '../src/record/protobuf-writer.js';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../src/marks.js';
import { MAX_DEPTH, SpanEncoder } from '../src/record/span-encoder.js';
import { SpanRing } from '../src/record/span-ring.js';
import { decodeRequest, spanArb } from './helpers/span-arbitrary.js';

/** A ring of `bytes` and `capacity` records with its own counters. */
function newRing(bytes: number, capacity: number): SpanRing {
  return new SpanRing(bytes, capacity, new SpanEncoder(), {
    spansEvictedByBytes: 0,
    spansEvictedByAge: 0,
    spansTooLarge: 0,
  });
}

/** Appends `span` to `ring` under its resource and scope's id in `table`, at time 0; returns its seq. */
function append(ring: SpanRing, table: ResourceScopeTable, span: ReadableSpan): number {
  return ring.append(
    span,
    span.spanContext(),
    table.idOf(span.resource, span.instrumentationScope),
    0,
    0,
  );
}

const [good1, good2] = fc.sample(spanArb(false), { numRuns: 2, seed: 3 });

function hostile(overrides: Record<string, unknown>): ReadableSpan {
  return Object.assign(Object.create(null), good1, overrides) as ReadableSpan;
}

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;

const HOSTILE: [string, ReadableSpan][] = [
  ['NaN and infinite times', hostile({ startTime: [Number.NaN, 0], endTime: [Infinity, 5] })],
  ['far-future and negative times', hostile({ startTime: [1e15, 0], endTime: [-5, -1] })],
  ['end before start', hostile({ startTime: [1_800_000_000, 0], endTime: [1_000, 0] })],
  [
    'ids that are not hex',
    hostile({ spanContext: () => ({ traceId: 'xyz', spanId: 'not-hex!', traceFlags: 1 }) }),
  ],
  [
    'an odd-length parent id',
    hostile({ parentSpanContext: { traceId: 'a'.repeat(32), spanId: 'abc', traceFlags: 1 } }),
  ],
  [
    'nesting deeper than any exporter wants',
    hostile({ attributes: { deep: nested(10_000), cyclic } }),
  ],
  [
    'non-numeric counts and no status',
    hostile({ droppedAttributesCount: 'x', droppedEventsCount: -1, status: undefined }),
  ],
];

test('hostile spans encode without throwing, decode with protobufjs, and leave the good spans around them intact', () => {
  for (const [what, span] of HOSTILE) {
    const table = new ResourceScopeTable();
    const ring = newRing(1 << 20, 64);
    for (const s of [good1!, span, good2!]) {
      assert.ok(append(ring, table, s) >= 0, what);
    }
    const run = ring.detach({ snapshotId: 'a', trigger: 'b' });
    const body = assembleRequest(run, 0, run.entries, table, undefined);
    const decoded = decodeRequest(body) as {
      resourceSpans: { scopeSpans: { spans: unknown[] }[] }[];
    };
    const spans = decoded.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    assert.equal(spans.length, 3, what);
    const good = (s: ReadableSpan) =>
      (decodeRequest(ProtobufTraceSerializer.serializeRequest([s])!) as typeof decoded)
        .resourceSpans[0]!.scopeSpans[0]!.spans[0];
    assert.deepStrictEqual(spans[0], good(good1!), what);
    assert.deepStrictEqual(spans[2], good(good2!), what);
    const back = decodeRecord(run, run.slot(1), table, false);
    assert.equal(back.spanContext().traceId.length, 32, what);
    assert.equal(back.spanContext().spanId.length, 16, what);
  }
});

test(`values nested deeper than ${MAX_DEPTH} levels are cut, not recursed into`, () => {
  const table = new ResourceScopeTable();
  const ring = newRing(1 << 16, 8);
  const span = hostile({ attributes: { deep: nested(MAX_DEPTH + 5) } });
  append(ring, table, span);
  const run = ring.detach({ snapshotId: 'a', trigger: 'b' });
  const back = decodeRecord(run, run.slot(0), table, false);
  let v = back.attributes.deep as unknown;
  let depth = 0;
  while (Array.isArray(v)) {
    v = v[0];
    depth++;
  }
  assert.equal(depth, MAX_DEPTH);
  assert.equal(v, null);
});

test('a span bigger than half the ring is dropped and counted, and the ring keeps working', () => {
  const counters = { spansEvictedByBytes: 0, spansEvictedByAge: 0, spansTooLarge: 0 };
  const table = new ResourceScopeTable();
  const ring = new SpanRing(10_000, 16, new SpanEncoder(), counters);
  const pair = table.idOf(good1!.resource, good1!.instrumentationScope);
  const big = hostile({ attributes: { big: 'x'.repeat(6_000) } });
  assert.equal(ring.append(big, big.spanContext(), pair, 0, 0), -1);
  assert.equal(counters.spansTooLarge, 1);
  assert.ok(ring.append(good2!, good2!.spanContext(), pair, 0, 0) >= 0);
  assert.equal(ring.length, 1);
});

test('a value that starts repeating after a long run of unique ones is interned again, and two key orders under one name both stay interned', () => {
  const table = new ResourceScopeTable();
  const ring = newRing(4 << 20, 4096);
  const value = 'x'.repeat(40);
  const sizes: number[] = [];
  const record = (attributes: Record<string, unknown>) => {
    const span = { ...good1!, name: 'GET', attributes, events: [], links: [] } as ReadableSpan;
    const seq = append(ring, table, span);
    sizes.push(ring.record(seq).length);
    return ring.record(seq);
  };
  // 200 unique values: the key stops looking them up most of the time.
  for (let i = 0; i < 200; i++) record({ 'k.id': `${value}${i}` });
  // The same value from now on: within a few probes it becomes one interned attribute.
  for (let i = 0; i < 100; i++) record({ 'k.id': value });
  const repeated = sizes.slice(200);
  assert.ok(
    repeated[99]! < repeated[0]! - 30,
    `interned again: ${repeated[0]} → ${repeated[99]} bytes`,
  );
  // An interned value that comes back while the key is not looking values up
  // (after a long run of unique ones) is still written as one id.
  sizes.length = 0;
  for (let i = 0; i < 3; i++) record({ 'k.common': value });
  for (let i = 0; i < 40; i++) record({ 'k.common': `${value}-${i}` });
  for (let i = 0; i < 20; i++) record({ 'k.common': value });
  const interned = sizes[2]!;
  assert.deepEqual(sizes.slice(43), new Array<number>(20).fill(interned), 'every one as one id');
  // Alternating key sets under the same span name: both stay interned.
  sizes.length = 0;
  for (let i = 0; i < 50; i++) {
    record({ 'a.first': 'alpha-value-that-repeats', 'a.second': 1 });
    record({ 'b.first': 'beta-value-that-repeats', 'b.second': 2 });
  }
  assert.ok(
    sizes[98]! < sizes[0]! - 20 && sizes[99]! < sizes[1]! - 20,
    `both orders interned: ${sizes.slice(0, 2)} → ${sizes.slice(-2)}`,
  );
  // And what is recorded is still exactly what the SDK writes.
  const run = ring.detach({ snapshotId: 's', trigger: 't' });
  assert.equal(run.length, 463);
  const spans = [];
  for (let k = 0; k < run.entries; k++) spans.push(decodeRecord(run, run.slot(k), table, false));
  assert.deepStrictEqual(
    decodeRequest(assembleRequest(run, 0, run.entries, table, undefined)),
    decodeRequest(ProtobufTraceSerializer.serializeRequest(spans)!),
  );
});

test("a span's own mark attributes are never recorded, wherever they sit among keys its name's shape has learnt; an event's are kept", () => {
  const table = new ResourceScopeTable();
  const ring = newRing(1 << 20, 4096);
  // Every span and event shares one name, so spans and events share one shape.
  const event = (i: number) => ({
    name: 'GET',
    time: good1!.startTime,
    attributes: { 'e.first': 'x', [TRIGGER_ATTRIBUTE]: 'event-own', 'e.n': i % 2 },
  });
  const orders: Record<string, unknown>[] = [
    { 'http.method': 'GET', 'http.route': '/a', n: 1 },
    { 'http.method': 'GET', [TRIGGER_ATTRIBUTE]: 'span-own', 'http.route': '/a', n: 1 },
    { [SNAPSHOT_ID_ATTRIBUTE]: 'span-own', 'http.method': 'GET', 'http.route': '/a', n: 1 },
    { 'http.method': 'GET', 'http.route': '/a', n: 1, [TRIGGER_ATTRIBUTE]: 'span-own' },
    // The event's own key order, which its shape learnt with the mark in it.
    { 'e.first': 'x', [TRIGGER_ATTRIBUTE]: 'span-own', 'e.n': 1 },
  ];
  const originals: ReadableSpan[] = [];
  for (let i = 0; i < 40; i++) {
    const attributes = orders[i % orders.length]!;
    const span = {
      ...good1!,
      name: 'GET',
      attributes,
      events: i % 3 === 0 ? [event(i)] : [],
      links: [],
    } as ReadableSpan;
    assert.ok(append(ring, table, span) >= 0);
    originals.push(span);
  }
  const run = ring.detach({ snapshotId: 's', trigger: 't' });
  const decoded = decodeRequest(assembleRequest(run, 0, run.entries, table, undefined)) as {
    resourceSpans: {
      scopeSpans: {
        spans: {
          attributes: { key: string; value: { stringValue?: string } }[];
          events?: { attributes: { key: string; value: { stringValue?: string } }[] }[];
        }[];
      }[];
    }[];
  };
  const spans = decoded.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  assert.equal(spans.length, originals.length);
  spans.forEach((span, i) => {
    const keys = span.attributes.map((a) => a.key);
    // The user's keys in their order; the marks are the flush's to add (none here).
    const own = Object.keys(orders[i % orders.length]!).filter(
      (k) => k !== TRIGGER_ATTRIBUTE && k !== SNAPSHOT_ID_ATTRIBUTE,
    );
    assert.deepEqual(keys, own, `span ${i}`);
    assert.ok(!span.attributes.some((a) => a.value.stringValue === 'span-own'), `span ${i}`);
    for (const e of span.events ?? []) {
      assert.deepEqual(
        e.attributes.map((a) => [a.key, a.value.stringValue]),
        [
          ['e.first', 'x'],
          [TRIGGER_ATTRIBUTE, 'event-own'],
          ['e.n', undefined],
        ],
        `span ${i}'s event`,
      );
    }
  });
});

test('two key orders under one name that share a first key (a server and a client span, both `GET`) keep a shape each', () => {
  const table = new ResourceScopeTable();
  const ring = newRing(4 << 20, 4096);
  const server = {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'url.path': '/users/42',
    'server.port': 8080,
  };
  const client = {
    'http.request.method': 'GET',
    'url.full': 'http://billing.internal/plan',
    'server.port': 80,
    'peer.service': 'billing',
  };
  const spans: ReadableSpan[] = [];
  for (let i = 0; i < 20; i++) {
    for (const attributes of [server, client]) {
      const span = { ...good1!, name: 'GET', attributes, events: [], links: [] } as ReadableSpan;
      spans.push(span);
      assert.ok(append(ring, table, span) >= 0);
    }
  }
  const dict = ring.dicts[0];
  const first = dict.shape(dict.idOf('GET')).select('http.request.method');
  // The order seen first keeps its positions, though the other came last...
  assert.deepEqual(first.keys, Object.keys(server));
  // ...and the other order has its own, reached where the two part.
  const other = first.branch(1, 'url.full');
  assert.notEqual(other, first);
  assert.deepEqual(other.keys, Object.keys(client));
  assert.equal(other.branch(1, 'url.scheme'), first);
  // Both keep their repeated values as one reference each (the other's from
  // where it parts: a span reaches it there).
  assert.ok(
    first.refs.every((id) => id >= 0),
    `${first.refs}`,
  );
  assert.ok(
    other.refs.slice(1).every((id) => id >= 0),
    `${other.refs}`,
  );
  // And what is recorded is still exactly what the SDK writes.
  const run = ring.detach({ snapshotId: 's', trigger: 't' });
  assert.deepStrictEqual(
    decodeRequest(assembleRequest(run, 0, run.entries, table, undefined)),
    decodeRequest(ProtobufTraceSerializer.serializeRequest(spans)!),
  );
});

test('the shapes and the values they remember stay within their bounds, whatever the names and keys', () => {
  const table = new ResourceScopeTable();
  const ring = newRing(64 << 20, 1 << 16);
  const pair = table.idOf(good1!.resource, good1!.instrumentationScope);
  // 1,000 names × 4 key orders × 64 keys (256,000 positions wanted), every
  // value 160 chars, built afresh per span, and seen twice so it is interned.
  const spans: ReadableSpan[] = [];
  for (let rep = 0; rep < 2; rep++) {
    for (let n = 0; n < 1000; n++) {
      for (let o = 0; o < 4; o++) {
        const attributes: Record<string, string> = {};
        for (let k = 0; k < 64; k++) attributes[`key${o + k}`] = `${'v'.repeat(159)}${k % 10}`;
        const span = { ...good1!, name: `span${n}`, attributes, events: [], links: [] };
        spans.push(span as ReadableSpan);
        assert.ok(ring.append(span as ReadableSpan, span.spanContext(), pair, 0, 0) >= 0);
      }
    }
  }
  assert.equal(ring.laps, 0, 'one table the whole time');
  const dict = ring.dicts[0];
  assert.ok(dict.shapePositions <= MAX_SHAPE_POSITIONS, `${dict.shapePositions} positions`);
  assert.ok(
    dict.rememberedChars <= dict.maxRememberedChars,
    `${dict.rememberedChars} chars remembered of ${dict.maxRememberedChars}`,
  );
  // Past the bounds the spans are still written exactly: the last 40.
  const run = ring.detach({ snapshotId: 's', trigger: 't' });
  assert.equal(run.length, spans.length);
  assert.deepStrictEqual(
    decodeRequest(assembleRequest(run, run.entries - 40, run.entries, table, undefined)),
    decodeRequest(ProtobufTraceSerializer.serializeRequest(spans.slice(-40))!),
  );
});

test('attributes written in one run (interned keys past id 127, lengths either side of 127 bytes, every value type) are byte for byte what the SDK writes', () => {
  const table = new ResourceScopeTable();
  const ring = newRing(4 << 20, 4096);
  const values: AttributeValue[] = [
    '',
    'ascii',
    'é accent',
    'x'.repeat(100),
    'y'.repeat(127),
    'z'.repeat(200),
    // With the keys of 5-7 chars below, expanded KeyValue lengths either
    // side of 127, 127 and 128 among them: past 127 the length takes two bytes.
    ...Array.from({ length: 22 }, (_, k) => 'w'.repeat(105 + k)),
    0,
    -0,
    7,
    2 ** 28 - 1,
    2 ** 28,
    -1,
    2 ** 53,
    0.5,
    -2.25,
    Number.NaN,
    Infinity,
    true,
    false,
  ];
  const spans: ReadableSpan[] = [];
  // 300 keys, so past the first 128 their ids take two bytes; some keys
  // long enough that the KeyValue's length no longer fits one byte.
  for (let i = 0; i < 300; i++) {
    const key = i % 7 === 0 ? `k.${i}.${'q'.repeat(90)}` : `k.${i}`;
    const attributes: Attributes = {};
    for (let j = 0; j < 3; j++) attributes[`${key}.${j}`] = values[(i * 3 + j) % values.length];
    const span = { ...good1!, name: `span ${i % 5}`, attributes, events: [], links: [] };
    spans.push(span as ReadableSpan);
    assert.ok(append(ring, table, span) >= 0);
  }
  const run = ring.detach({ snapshotId: 's', trigger: 't' });
  assert.equal(
    Buffer.from(assembleRequest(run, 0, run.entries, table, undefined)).toString('hex'),
    Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!).toString('hex'),
  );
});

test('a span that does not fit before the writer end throws WriterFull and writes nothing at or past that end, at every end', () => {
  const encoder = new SpanEncoder();
  const dict = new InternTable(1 << 20);
  const SENTINEL = 0xee;
  // Interned keys (after the first span) with values new to every span but
  // of the same sizes: short ASCII strings, small integers, doubles and a
  // boolean go through the one-run attribute path, the long string and the
  // non-ASCII one through the general path; an event and a link besides.
  const span = (k: number): ReadableSpan => {
    const v = String(k).padStart(6, '0');
    return {
      ...good1!,
      name: 'bounded',
      // No status message and small counts: the encoder's usual 12-byte tail.
      status: { code: 2 },
      droppedLinksCount: 0,
      attributes: {
        'a.short': `s${v}`,
        'a.int': 100_000 + k,
        'a.double': k + 0.5,
        'a.bool': k % 2 === 0,
        'a.long': `l${v}`.repeat(40),
        'a.accent': `é${v}`,
        'a.big': 2 ** 40 + k,
      },
      events: [{ name: 'evt', time: [1_700_000_000, k], attributes: { 'e.key': `e${v}` } }],
      links: [
        {
          context: { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 },
          attributes: { 'l.key': `m${v}` },
        },
      ],
    } as ReadableSpan;
  };
  const encodeInto = (buf: Uint8Array, end: number, k: number): ProtobufWriter => {
    buf.fill(SENTINEL);
    const w = new ProtobufWriter(buf);
    w.end = end;
    const s = span(k);
    encoder.encode(w, s, s.spanContext(), dict);
    return w;
  };
  // Warm the table: keys interned, the boolean's two values whole attributes.
  const big = new Uint8Array(4096);
  for (let k = 0; k < 8; k++) encodeInto(big, big.length, k);
  const full = encodeInto(big, big.length, 8).pos;
  assert.ok(full > 300, `${full} bytes`);
  for (let end = 0; end <= full; end++) {
    const buf = new Uint8Array(full + 16);
    const k = 10 + end;
    if (end < full) {
      assert.throws(
        () => encodeInto(buf, end, k),
        (e) => e === WriterFull,
        `end ${end}`,
      );
    } else {
      assert.equal(encodeInto(buf, end, k).pos, full);
    }
    const past = buf.subarray(end).findIndex((b) => b !== SENTINEL);
    assert.equal(past, -1, `end ${end} of ${full}: byte ${end + past} written`);
  }
});

test('span ids of the right length are written as the SDK writes them, and flagged unless valid hex (uppercase, other chars, chars past 0xff, zeros)', () => {
  const encoder = new SpanEncoder();
  const cases: [string, boolean][] = [
    ['00f067aa0ba902b7', true],
    ['00F067AA0BA902B7', true],
    ['00f067aa0ba902g7', false],
    ['00f067aa0ba902 7', false],
    // Low bytes 0x61 and 0x30, 'a' and '0': only the high byte makes them not hex.
    ['00f067aa0ba902\u0161\u0130', false],
    ['\u0100'.repeat(16), false],
    ['0'.repeat(16), false],
  ];
  for (const [spanId, valid] of cases) {
    const ctx = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId, traceFlags: 1 };
    const span = {
      ...good1!,
      spanContext: () => ctx,
      parentSpanContext: undefined,
      startTime: [1_700_000_000, 0],
      endTime: [1_700_000_001, 0],
      attributes: { ok: true },
      events: [],
      links: [],
    } as ReadableSpan;
    const w = new ProtobufWriter(new Uint8Array(4096));
    encoder.encode(w, span, ctx);
    assert.equal(w.suspect, !valid, JSON.stringify(spanId));
    // The record starts with the trace id's field (18 bytes), then 0x12, 8 and the span id.
    const sdk = decodeRequest(ProtobufTraceSerializer.serializeRequest([span])!) as {
      resourceSpans: { scopeSpans: { spans: { spanId: string }[] }[] }[];
    };
    assert.equal(
      Buffer.from(w.buf.subarray(20, 28)).toString('base64'),
      sdk.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.spanId,
      JSON.stringify(spanId),
    );
  }
});

test('an intern table holds one entry per 4 KiB of ring (256 to 8,192): names and keys that never repeat cannot fill the heap', () => {
  for (const [ringBytes, most] of [
    [64 * 1024, 256],
    [1 << 20, 256],
    [16 << 20, 4096],
    [64 << 20, 8192],
  ] as const) {
    const table = new InternTable(ringBytes);
    for (let i = 0; i < 10_000; i++) {
      table.idOf(`GET /users/${i}`);
      table.key(`user.${i}.flag`);
    }
    assert.equal(table.size, most, `ring of ${ringBytes} bytes`);
    // Past the bound, a string is written inline: no id.
    assert.equal(table.idOf('a new name'), -1);
  }
});

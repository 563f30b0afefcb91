import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpanContext } from '@opentelemetry/api';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import fc from 'fast-check';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../src/index.js';
import {
  DEFAULT_LOG_ATTRIBUTE_CACHE,
  LogAttributeCache,
  type LogAttributeCacheLimits,
} from '../src/logs/log-attribute-cache.js';
import { LogEncoder } from '../src/logs/log-encoder.js';
import type { RecordedLogRecord } from '../src/logs/log-record.js';
import { assembleLogsRequest, LogBatchBuilder } from '../src/logs/log-request.js';
import { ProtobufWriter } from '../src/record/protobuf-writer.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { decodeLogsRequest, logRecordsOf } from './helpers/logs.js';
import { hrTime, RESOURCES, SCOPES } from './helpers/span-arbitrary.js';

// Records drawn from small pools, so keys, values, severities and span
// contexts repeat across records as a service's do, and the encoder's caches
// (kept attributes, severity fields, id fields) hit, miss, evict and renew.

const KEYS = [
  'http.method',
  'cart.id',
  'k',
  'ключ',
  '日本',
  'x'.repeat(200),
  // Key fields of 60 and 61 bytes: around where one-byte lengths end.
  'k'.repeat(58),
  'k'.repeat(59),
  '0',
  'a.b.c',
];
const VALUES: readonly unknown[] = [
  'GET',
  'gold',
  '',
  'héllo wörld',
  '日本語テキスト',
  'emoji 🎉 ok',
  'a\ud800b\udfffc',
  'x'.repeat(300),
  'ß'.repeat(70),
  'w'.repeat(63),
  // Bodies around where a one-pass body ends.
  'b'.repeat(125),
  'b'.repeat(126),
  'y'.repeat(64),
  127,
  128,
  'z'.repeat(65),
  200,
  0,
  -0,
  0.5,
  Number.NaN,
  Infinity,
  2 ** 60,
  -(2 ** 63),
  true,
  false,
  null,
  undefined,
  new Uint8Array([1, 2, 3]),
  ['a', 1, true],
  { nested: 'v', n: 1 },
];
const CONTEXTS: readonly SpanContext[] = [0, 1, 2].flatMap((i) => [
  { traceId: `${i + 1}`.padStart(32, 'a'), spanId: `${i + 1}`.padStart(16, 'b'), traceFlags: 1 },
  { traceId: `${i + 1}`.padStart(32, 'c'), spanId: `${i + 1}`.padStart(16, 'd'), traceFlags: 0 },
]);

const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALUES) },
  // Fresh values, never seen before: counters, ids.
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
);

const attributesArb = fc.dictionary(fc.constantFrom(...KEYS), valueArb, { maxKeys: 6 });

const recordArb: fc.Arbitrary<ReadableLogRecord> = fc.record(
  {
    hrTime,
    hrTimeObserved: hrTime,
    spanContext: fc.constantFrom(...CONTEXTS),
    severityNumber: fc.constantFrom(0, 5, 9, 17, 24),
    severityText: fc.constantFrom('debug', 'DEBUG', 'error', '', 'ß'.repeat(65), 'x'.repeat(80)),
    body: fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 60 })),
    attributes: attributesArb,
    droppedAttributesCount: fc.constantFrom(0, 1, 300),
    eventName: fc.constantFrom('', 'cart.loaded'),
    resource: fc.constantFrom(...RESOURCES),
    instrumentationScope: fc.constantFrom(...SCOPES),
  },
  {
    requiredKeys: [
      'hrTime',
      'hrTimeObserved',
      'attributes',
      'droppedAttributesCount',
      'resource',
      'instrumentationScope',
    ],
  },
) as unknown as fc.Arbitrary<ReadableLogRecord>;

/** Small caches, so keys and kept attributes run out and the cache renews within a run. */
const limitsArb: fc.Arbitrary<LogAttributeCacheLimits> = fc.oneof(
  fc.constant(DEFAULT_LOG_ATTRIBUTE_CACHE),
  fc.record({
    maxKeys: fc.integer({ min: 0, max: 4 }),
    keptBytes: fc.integer({ min: 0, max: 256 }),
    renewAfter: fc.integer({ min: 1, max: 8 }),
  }),
);

/** Encodes `records` one after the other with one encoder, as onEmit does, and assembles them. */
function encodeAll(encoder: LogEncoder, records: readonly ReadableLogRecord[]): Uint8Array {
  const table = new ResourceScopeTable();
  const builder = new LogBatchBuilder(16, 1);
  // One scratch buffer, reused: what an earlier record left in it must not matter.
  const scratch = new Uint8Array(1 << 16).fill(0xee);
  for (const record of records) {
    const w = new ProtobufWriter(scratch);
    encoder.encode(w, record as unknown as RecordedLogRecord);
    builder.add(scratch, 0, w.pos, table.idOf(record.resource, record.instrumentationScope));
  }
  const batch = builder.build(undefined);
  return assembleLogsRequest(batch, 0, batch.count, table);
}

test('records whose keys and values repeat encode, cache hit or miss, to the very bytes ProtobufLogsSerializer writes', () => {
  fc.assert(
    fc.property(
      limitsArb,
      fc.array(recordArb, { minLength: 1, maxLength: 60 }),
      (limits, records) => {
        const encoder = new LogEncoder(limits);
        const expected = ProtobufLogsSerializer.serializeRequest(records) ?? new Uint8Array();
        assert.deepEqual(Buffer.from(encodeAll(encoder, records)), Buffer.from(expected));
        // Encoded again by the same encoder, its caches full of these records: the same bytes.
        assert.deepEqual(Buffer.from(encodeAll(encoder, records)), Buffer.from(expected));
      },
    ),
    { numRuns: 300 },
  );
});

test('a protobuf decoder that is not ours reads back the attributes the cache copied', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 30 }), (records) => {
      const encoder = new LogEncoder();
      encodeAll(encoder, records);
      // Every record once more: kept attributes now come from the cache.
      const decoded = logRecordsOf(decodeLogsRequest(encodeAll(encoder, records)));
      const sdk = logRecordsOf(
        decodeLogsRequest(ProtobufLogsSerializer.serializeRequest(records) ?? new Uint8Array()),
      );
      assert.deepEqual(decoded, sdk);
    }),
    { numRuns: 100 },
  );
});

test('attributes named like the flush marks are left out, cached or not', () => {
  const cache = new LogAttributeCache({ maxKeys: 1, keptBytes: 1024, renewAfter: 4 });
  const scratch = new Uint8Array(4096);
  const bytesOf = (attributes: Record<string, unknown>): Buffer => {
    const w = new ProtobufWriter(scratch);
    cache.write(w, attributes);
    return Buffer.from(scratch.subarray(0, w.pos));
  };
  const plain = bytesOf({ a: 'v' });
  for (let i = 0; i < 10; i++) {
    // The first key takes the only entry; the marks are either cached as skipped or written out.
    assert.deepEqual(
      bytesOf({ [SNAPSHOT_ID_ATTRIBUTE]: 'x', a: 'v', [TRIGGER_ATTRIBUTE]: 'y' }),
      plain,
    );
    assert.deepEqual(bytesOf({ a: 'v', [TRIGGER_ATTRIBUTE]: 'y' }), plain);
  }
});

test('high-cardinality keys and values stay within the cache bounds', () => {
  const limits = { maxKeys: 16, keptBytes: 2048, renewAfter: 100 };
  const cache = new LogAttributeCache(limits);
  const scratch = new Uint8Array(1 << 16);
  let maxKeys = 0;
  let maxBytes = 0;
  for (let i = 0; i < 20_000; i++) {
    const w = new ProtobufWriter(scratch);
    // Every value twice, so each is kept; a new key every record.
    const v = `value-${i >> 1}`;
    cache.write(w, { [`key-${i}`]: v, fixed: v, [`k${i % 64}`]: i >> 1 });
    const size = cache.size;
    maxKeys = Math.max(maxKeys, size.keys);
    maxBytes = Math.max(maxBytes, size.bytes);
  }
  assert.ok(maxKeys <= limits.maxKeys, `keys ${maxKeys}`);
  assert.ok(maxBytes > 0 && maxBytes <= limits.keptBytes, `bytes ${maxBytes}`);
  // Renewed: the cache follows the keys now in use instead of the first ones.
  const w = new ProtobufWriter(scratch);
  cache.write(w, { fixed: 'x' });
  assert.ok(cache.size.keys >= 1);
});

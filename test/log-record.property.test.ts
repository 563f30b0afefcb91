import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpanContext } from '@opentelemetry/api';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import fc from 'fast-check';
import { LogEncoder } from '../src/logs/log-encoder.js';
import type { RecordedLogRecord } from '../src/logs/log-record.js';
import { assembleLogsRequest, LogBatchBuilder } from '../src/logs/log-request.js';
import { ProtobufWriter } from '../src/record/protobuf-writer.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { decodeLogsRequest, logRecordsOf } from './helpers/logs.js';
import {
  anyText,
  attributesArb,
  hrTime,
  RESOURCES,
  SCOPES,
  spanIdArb,
  traceIdArb,
  values,
} from './helpers/span-arbitrary.js';

const spanContextArb: fc.Arbitrary<SpanContext> = fc.record({
  traceId: traceIdArb,
  spanId: spanIdArb,
  traceFlags: fc.integer({ min: 0, max: 255 }),
});

/** Log records as the SDK hands them to processors (every field `ReadableLogRecord` has). */
const logRecordArb: fc.Arbitrary<ReadableLogRecord> = fc.record(
  {
    hrTime,
    hrTimeObserved: hrTime,
    spanContext: spanContextArb,
    severityNumber: fc.integer({ min: 0, max: 24 }),
    severityText: fc.oneof(fc.constantFrom('DEBUG', 'INFO', 'ERROR', ''), anyText),
    body: fc.oneof(values(anyText), fc.constant(null)),
    attributes: attributesArb(anyText),
    droppedAttributesCount: fc.integer({ min: 0, max: 1000 }),
    eventName: fc.oneof(fc.constant(''), anyText),
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

/** Encodes `records` one at a time, as onEmit does, and assembles them as a flush does (no marks). */
function ours(records: readonly ReadableLogRecord[]): Uint8Array {
  const table = new ResourceScopeTable();
  const encoder = new LogEncoder();
  const builder = new LogBatchBuilder(16, 1);
  let scratch = new Uint8Array(1 << 16);
  for (const record of records) {
    const w = new ProtobufWriter(scratch);
    encoder.encode(w, record as unknown as RecordedLogRecord);
    builder.add(scratch, 0, w.pos, table.idOf(record.resource, record.instrumentationScope));
    scratch = new Uint8Array(1 << 16);
  }
  const batch = builder.build(undefined);
  return assembleLogsRequest(batch, 0, batch.count, table);
}

test('a log record is encoded at onEmit into the very bytes ProtobufLogsSerializer writes for it', () => {
  fc.assert(
    fc.property(fc.array(logRecordArb, { maxLength: 8 }), (records) => {
      const expected = ProtobufLogsSerializer.serializeRequest(records) ?? new Uint8Array();
      assert.deepEqual(Buffer.from(ours(records)), Buffer.from(expected));
    }),
    { numRuns: 400 },
  );
});

test('a protobuf decoder that is not ours reads back every field of each record', () => {
  fc.assert(
    fc.property(fc.array(logRecordArb, { minLength: 1, maxLength: 4 }), (records) => {
      const decoded = logRecordsOf(decodeLogsRequest(ours(records)));
      assert.equal(decoded.length, records.length);
      // Grouping may reorder records across resource and scope groups: match by group order.
      const byGroup = [...records].sort((a, b) => groupIndex(records, a) - groupIndex(records, b));
      byGroup.forEach((record, i) => {
        const d = decoded[i]!;
        assert.equal(d.traceId, record.spanContext?.traceId);
        assert.equal(d.spanId, record.spanContext?.spanId);
        assert.equal(d.severityNumber, record.severityNumber || undefined);
        assert.equal(
          d.eventName,
          record.eventName ? Buffer.from(record.eventName).toString() : undefined,
        );
        const ns = BigInt(record.hrTime[0]) * 1_000_000_000n + BigInt(record.hrTime[1]);
        assert.equal(d.timeUnixNano ?? '0', String(ns));
      });
    }),
    { numRuns: 200 },
  );
});

/** The position of `record`'s resource and scope group in first-seen order, as serializers group. */
function groupIndex(records: readonly ReadableLogRecord[], record: ReadableLogRecord): number {
  const resources: unknown[] = [];
  const pairs: string[] = [];
  for (const r of records) {
    if (!resources.includes(r.resource)) resources.push(r.resource);
  }
  for (const res of resources) {
    for (const r of records) {
      if (r.resource !== res) continue;
      const k = `${resources.indexOf(res)}:${SCOPES.indexOf(r.instrumentationScope)}`;
      if (!pairs.includes(k)) pairs.push(k);
    }
  }
  const k = `${resources.indexOf(record.resource)}:${SCOPES.indexOf(record.instrumentationScope)}`;
  return pairs.indexOf(k);
}

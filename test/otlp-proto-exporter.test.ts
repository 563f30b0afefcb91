import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ExportResultCode } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import fc from 'fast-check';
import { OtlpProtoRequestExporter } from '../src/export/otlp-proto-exporter.js';
import { startOtlpProtoReceiver } from './helpers/otlp-proto-receiver.js';
import { decodeRequest, spanArb } from './helpers/span-arbitrary.js';

const ENV = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_COMPRESSION',
];
afterEach(() => {
  for (const name of ENV) delete process.env[name];
});

test('pre-encoded requests go through the SDK transport: env endpoint and headers, gzip, a 503 retried', async () => {
  const receiver = await startOtlpProtoReceiver(1);
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-test=from-env';
    process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
    const exporter = new OtlpProtoRequestExporter();
    const spans = fc.sample(spanArb(), { numRuns: 5, seed: 42 });
    const body = ProtobufTraceSerializer.serializeRequest(spans)!;
    const result = await new Promise<{ code: number }>((resolve) =>
      exporter.export({ body, spans: spans.length }, resolve),
    );
    assert.equal(result.code, ExportResultCode.SUCCESS);
    assert.equal(receiver.attempts(), 2, 'one 503, then a retry');
    const [request] = receiver.requests;
    assert.equal(request!.headers['content-type'], 'application/x-protobuf');
    assert.equal(request!.headers['content-encoding'], 'gzip');
    assert.equal(request!.headers['x-test'], 'from-env');
    assert.deepStrictEqual(request!.decoded, decodeRequest(body));
    await exporter.shutdown();
  } finally {
    await receiver.close();
  }
});

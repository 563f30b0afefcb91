// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc: the recorder's records go to a
// real OTLP/gRPC receiver on loopback (grpc-js, decoding with protobufjs from
// opentelemetry-proto) through @opentelemetry/exporter-trace-otlp-grpc, found
// as a peer of the recorder wherever the app runs from.
import { type sendUnaryData, Server, ServerCredentials, type ServerUnaryCall } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { afterEach, test } from 'node:test';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../src/marks.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { defaultSink } from '../src/export/default-sink.js';
import { OtlpProtoSink } from '../src/export/sinks.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { decodeRequest } from './helpers/span-arbitrary.js';
import { captureDiag, makeTracing } from './helpers/tracing.js';

const VARS = ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
afterEach(() => {
  for (const v of VARS) delete process.env[v];
});

interface DecodedSpan {
  name: string;
  attributes?: { key: string; value: { stringValue?: string } }[];
}

/** An OTLP/gRPC trace receiver on loopback; the requests it got, decoded. */
async function startGrpcReceiver() {
  const spans: DecodedSpan[] = [];
  const raw = (b: Buffer) => b;
  const server = new Server();
  server.addService(
    {
      export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        const request = decodeRequest(call.request) as {
          resourceSpans?: { scopeSpans?: { spans?: DecodedSpan[] }[] }[];
        };
        for (const rs of request.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Bounded: a client that keeps its connection open is cut after 1 s.
        setTimeout(() => server.forceShutdown(), 1_000).unref();
      }),
  };
}

test('grpc: a flush goes to the OTLP/gRPC receiver, marked, from any working directory', async () => {
  const receiver = await startGrpcReceiver();
  const cwd = process.cwd();
  // The app may run from anywhere: the exporter is found beside the recorder.
  process.chdir(tmpdir());
  try {
    process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = 'grpc';
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.endpoint;
    const recorder = new FlightRecorderSpanProcessor({ runtimeEvents: false });
    const t = makeTracing(recorder, undefined, 'grpc');
    const now = Date.now();
    const root = t.start('GET /grpc', now);
    t.start('child', now, root).end(now + 1);
    root.end(now + 2);
    const result = await recorder.snapshot('manual');
    assert.equal(result.spans, 2);
    assert.equal(recorder.stats().spansExported, 2);
    assert.deepEqual(receiver.spans.map((s) => s.name).sort(), ['GET /grpc', 'child']);
    const mark = (s: DecodedSpan, key: string) =>
      s.attributes?.find((a) => a.key === key)?.value.stringValue;
    for (const s of receiver.spans) {
      assert.equal(mark(s, TRIGGER_ATTRIBUTE), 'manual');
      assert.equal(mark(s, SNAPSHOT_ID_ATTRIBUTE), result.snapshotId);
    }
    await recorder.shutdown();
  } finally {
    process.chdir(cwd);
    await receiver.close();
  }
});

test('grpc without the gRPC exporter installed: one warning naming the variable, and http/protobuf', async () => {
  const diagnostics = captureDiag();
  try {
    const sink = defaultSink(
      new ResourceScopeTable(),
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      () => undefined,
    );
    assert.ok(sink instanceof OtlpProtoSink);
    await new Promise((resolve) => setImmediate(resolve));
    const ours = diagnostics.messages.filter((m) => m.message.includes('=grpc'));
    assert.equal(ours.length, 1);
    assert.match(
      ours[0]!.message,
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs @opentelemetry\/exporter-trace-otlp-grpc/,
    );
  } finally {
    diagnostics.restore();
  }
});

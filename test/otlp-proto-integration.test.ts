import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  FlightRecorderSpanProcessor,
  PERCENTILE_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { startOtlpProtoReceiver } from './helpers/otlp-proto-receiver.js';
import { startOtlpReceiver } from './helpers/otlp-receiver.js';
import { captureDiag, fail, makeTracing, recordOnlySampler } from './helpers/tracing.js';

const ENV = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_COMPRESSION',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
];
afterEach(() => {
  for (const name of ENV) delete process.env[name];
});

interface DecodedSpan {
  name: string;
  flags?: number;
  attributes?: {
    key: string;
    value: { stringValue?: string; intValue?: string; doubleValue?: number };
  }[];
}

function spansOf(requests: { decoded: { resourceSpans?: unknown[] } }[]): DecodedSpan[] {
  return requests.flatMap((r) =>
    ((r.decoded.resourceSpans ?? []) as { scopeSpans: { spans: DecodedSpan[] }[] }[]).flatMap(
      (rs) => rs.scopeSpans.flatMap((ss) => ss.spans),
    ),
  );
}

function attribute(span: DecodedSpan, key: string): string | undefined {
  return span.attributes?.find((a) => a.key === key)?.value.stringValue;
}

test('by default a flush goes out as OTLP protobuf through the SDK transport: env endpoint and headers, gzip, a 503 retried', async () => {
  const receiver = await startOtlpProtoReceiver(1);
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-test=from-env';
    process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
    const recorder = new FlightRecorderSpanProcessor({ latencyThresholdMs: 100_000 });
    const t = makeTracing(recorder, recordOnlySampler, 'proto-integration');
    const now = Date.now();
    t.start('GET /health', now).end(now + 1);
    const root = fail(t.start('POST /pay', now));
    t.start('charge', now, root).end(now + 2);
    root.end(now + 3);
    await recorder.forceFlush();
    assert.equal(receiver.attempts(), 2, 'a 503, then the retry');
    const [request] = receiver.requests;
    assert.equal(request!.headers['content-type'], 'application/x-protobuf');
    assert.equal(request!.headers['content-encoding'], 'gzip');
    assert.equal(request!.headers['x-test'], 'from-env');
    const spans = spansOf(receiver.requests);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /health', 'POST /pay', 'charge']);
    const ids = new Set(spans.map((s) => attribute(s, SNAPSHOT_ID_ATTRIBUTE)));
    assert.equal(ids.size, 1);
    assert.ok(spans.every((s) => attribute(s, TRIGGER_ATTRIBUTE) === 'error'));
    assert.ok(
      spans.every((s) => ((s.flags ?? 0) & 1) === 1),
      'record-only spans go out sampled',
    );
    assert.equal(recorder.stats().spansExported, 3);
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

test('a latency trigger over OTLP protobuf: the root alone carries its threshold and percentile, appended to its record', async () => {
  const receiver = await startOtlpProtoReceiver();
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    const recorder = new FlightRecorderSpanProcessor({
      latencyThresholdMs: 'p99',
      latencyFloorMs: 1_000,
      flushScope: 'trace',
    });
    const t = makeTracing(recorder, recordOnlySampler, 'proto-evidence');
    const now = Date.now();
    for (let i = 0; i < 250; i++) t.start('GET /a', now).end(now + 10);
    const root = t.start('GET /a', now);
    t.start('db', now, root).end(now + 1);
    root.end(now + 30);
    await recorder.forceFlush();
    const spans = spansOf(receiver.requests);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /a', 'db']);
    const exported = spans.find((s) => s.name === 'GET /a')!;
    const value = (s: DecodedSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value;
    const threshold = value(exported, THRESHOLD_ATTRIBUTE)!.doubleValue!;
    assert.ok(threshold >= 10 && threshold < 10.2, String(threshold));
    assert.equal(value(exported, PERCENTILE_ATTRIBUTE)!.intValue, '99');
    assert.equal(attribute(exported, TRIGGER_ATTRIBUTE), 'latency');
    const db = spans.find((s) => s.name === 'db')!;
    assert.equal(value(db, THRESHOLD_ATTRIBUTE), undefined);
    assert.equal(attribute(db, SNAPSHOT_ID_ATTRIBUTE), attribute(exported, SNAPSHOT_ID_ATTRIBUTE));
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

test('batch after batch, each request is whole: one that failed is never written over, one accepted is reused for the next', async () => {
  // The first request gets a 503 and is retried by the transport with the
  // same bytes; later ones reuse the memory of the last request accepted.
  const receiver = await startOtlpProtoReceiver(1);
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    const recorder = new FlightRecorderSpanProcessor({
      triggers: [],
      maxExportBatchSize: 3,
    });
    const t = makeTracing(recorder, recordOnlySampler, 'proto-batches');
    const now = Date.now();
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      // Sizes vary, so a request sometimes fits the memory kept and sometimes not.
      const name = `span-${i}-${'x'.repeat((i * 37) % 200)}`;
      expected.push(name);
      t.start(name, now).end(now + 1);
    }
    const result = await recorder.snapshot();
    assert.equal(result.spans, 20);
    assert.equal(receiver.attempts(), receiver.requests.length + 1, 'one 503, retried');
    const names = spansOf(receiver.requests).map((s) => s.name);
    assert.deepEqual([...names].sort(), [...expected].sort());
    assert.equal(recorder.stats().spansExported, 20);
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

test('each request is at most maxExportBatchBytes on the wire, headers and marks included; a larger span goes alone', async () => {
  const receiver = await startOtlpProtoReceiver();
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    const cap = 4_000;
    const recorder = new FlightRecorderSpanProcessor({
      triggers: [],
      maxExportBatchSize: 1_000,
      maxExportBatchBytes: cap,
    });
    // A resource of some size: its header is in every request.
    const t = makeTracing(recorder, recordOnlySampler, `proto-batch-bytes-${'r'.repeat(300)}`);
    const now = Date.now();
    const expected: string[] = [];
    for (let i = 0; i < 60; i++) {
      // One span in 20 is larger than the cap by itself.
      const big = i % 20 === 7;
      const name = `span-${i}-${'y'.repeat(big ? 5_000 : 20 + ((i * 53) % 200))}`;
      expected.push(name);
      t.start(name, now).end(now + 1);
    }
    const result = await recorder.snapshot();
    assert.equal(result.spans, 60);
    const names = spansOf(receiver.requests).map((s) => s.name);
    assert.deepEqual([...names].sort(), [...expected].sort(), 'every span once');
    let alone = 0;
    for (const r of receiver.requests) {
      const spans = spansOf([r]);
      if (spans.length === 1 && spans[0]!.name.length > cap) {
        alone++;
        continue;
      }
      assert.ok(r.raw.length <= cap, `a request of ${r.raw.length} bytes`);
      assert.ok(spans.every((s) => s.name.length < cap));
    }
    assert.equal(alone, 3, 'each large span in a request of its own');
    // Batches fill up to the cap: far fewer requests than spans.
    assert.ok(receiver.requests.length <= 16, `${receiver.requests.length} requests`);
    // And near it: the bound is not far above the size.
    const sizes = receiver.requests.map((r) => r.raw.length).filter((n) => n <= cap);
    assert.ok(Math.max(...sizes) > cap - 700, `largest ${Math.max(...sizes)} bytes`);
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

test('an unknown OTEL_EXPORTER_OTLP_TRACES_PROTOCOL is warned about once, by name and value, and http/protobuf applies', async () => {
  const diagnostics = captureDiag();
  const receiver = await startOtlpProtoReceiver();
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = 'carrier-pigeon';
    const recorder = new FlightRecorderSpanProcessor();
    // Warned on the next turn, once NodeSDK (here, the test) has installed its logger.
    await new Promise((resolve) => setImmediate(resolve));
    const ours = diagnostics.messages.filter((m) =>
      m.message.includes('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'),
    );
    assert.equal(ours.length, 1);
    assert.match(ours[0]!.message, /carrier-pigeon/);
    const t = makeTracing(recorder);
    const now = Date.now();
    t.start('x', now).end(now + 1);
    await recorder.snapshot();
    assert.equal(spansOf(receiver.requests).length, 1);
    await recorder.shutdown();
  } finally {
    diagnostics.restore();
    await receiver.close();
  }
});

test('OTEL_EXPORTER_OTLP_PROTOCOL=http/json sends OTLP JSON, decoded from the records at flush', async () => {
  const receiver = await startOtlpReceiver();
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url.replace('/v1/traces', '');
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
    const recorder = new FlightRecorderSpanProcessor();
    const t = makeTracing(recorder, undefined, 'json');
    const now = Date.now();
    const root = t.start('GET /json', now);
    t.start('child', now, root).end(now + 1);
    root.end(now + 2);
    await recorder.snapshot('manual');
    assert.deepEqual(receiver.spans.map((s) => s.name).sort(), ['GET /json', 'child']);
    assert.ok(receiver.spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'manual'));
    assert.ok(receiver.spans.every((s) => s.resource['service.name'] === 'json'));
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

test('a trace flush whose triggering span starts a new lap of the ring: the request decodes, every name and key intact', async () => {
  // The trace's children were written in the lap before; the root's own
  // record wraps the ring, which renews that lap's intern table.
  const receiver = await startOtlpProtoReceiver();
  try {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    const recorder = new FlightRecorderSpanProcessor({
      maxBytes: 8192,
      flushScope: 'trace',
      triggers: ['error'],
      minAgeMs: 600_000,
      exportDelayMs: 0,
      runtimeEvents: false,
    });
    const t = makeTracing(recorder, undefined, 'laps');
    const now = Date.now();
    let f = 0;
    const filler = () => {
      const s = t.start(`filler-${f++}`, now);
      s.setAttribute(`key-${f}`, 'v'.repeat(250) + f);
      s.end(now + 1);
    };
    const root = t.start('root', now);
    for (let i = 0; i < 16; i++) filler();
    for (let i = 0; i < 3; i++) {
      const c = t.start(`child-${i}`, now, root);
      c.setAttribute(`child.attr.${i}`, `value-${i}`);
      c.end(now + 1);
    }
    for (let i = 0; i < 17; i++) filler();
    const laps = (recorder as unknown as { _ring: { laps: number } })._ring.laps;
    root.setAttribute('big', 'x'.repeat(2500));
    fail(root).end(now + 2);
    assert.equal(
      (recorder as unknown as { _ring: { laps: number } })._ring.laps,
      laps + 1,
      'the root started a lap',
    );
    await recorder.forceFlush();
    // Each request was decoded by protobufjs as it arrived: a bad one would have thrown.
    const spans = spansOf(receiver.requests);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['child-0', 'child-1', 'child-2', 'root']);
    for (let i = 0; i < 3; i++) {
      const child = spans.find((s) => s.name === `child-${i}`)!;
      assert.equal(attribute(child, `child.attr.${i}`), `value-${i}`);
    }
    await recorder.shutdown();
  } finally {
    await receiver.close();
  }
});

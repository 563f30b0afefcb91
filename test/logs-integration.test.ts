import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import * as api from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { WinstonInstrumentation } from '@opentelemetry/instrumentation-winston';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import {
  FlightRecorderSpanProcessor,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { attr, logRecordsOf } from './helpers/logs.js';
import { startOtlpProtoReceiver } from './helpers/otlp-proto-receiver.js';
import './helpers/tracing.js';

const require = createRequire(import.meta.url);

/**
 * The global logs API the instrumentation emits through: `@opentelemetry/api`
 * itself from api 1.10 (SDK 3.x), `@opentelemetry/api-logs` before.
 */
function logsApi(): { setGlobalLoggerProvider(provider: unknown): unknown; disable(): void } {
  const fromApi = (api as unknown as { logs?: ReturnType<typeof logsApi> }).logs;
  return (
    fromApi ?? (require('@opentelemetry/api-logs') as { logs: ReturnType<typeof logsApi> }).logs
  );
}

/** `@opentelemetry/api-logs`' own global, which `@opentelemetry/winston-transport` emits through on both SDK lines. */
function apiLogsGlobal(): ReturnType<typeof logsApi> {
  return (require('@opentelemetry/api-logs') as { logs: ReturnType<typeof logsApi> }).logs;
}

let unregister: () => void;
before(() => {
  unregister = registerInstrumentations({
    instrumentations: [
      new PinoInstrumentation(),
      // logSeverity lets DEBUG through to the OTel transport of an info logger.
      new WinstonInstrumentation({ logSeverity: 5 }),
    ],
  });
});
after(() => {
  unregister();
  logsApi().disable();
  apiLogsGlobal().disable();
});

test('real pino through instrumentation-pino: DEBUG recorded while stdout stays at INFO; a failing request ships its lines to /v1/logs with ids, times, severity and marks', async () => {
  const receiver = await startOtlpProtoReceiver();
  const previous = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
  try {
    const recorder = new FlightRecorderSpanProcessor({ flushScope: 'trace' });
    const loggerProvider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'pino-test' }),
      processors: [recorder.logRecordProcessor()],
    });
    logsApi().setGlobalLoggerProvider(loggerProvider);
    const tracerProvider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'pino-test' }),
      spanProcessors: [recorder],
    });
    const tracer = tracerProvider.getTracer('test');
    const pino = require('pino') as typeof import('pino');
    const stdout: string[] = [];
    const out = new Writable({
      write(chunk, _encoding, done) {
        stdout.push(String(chunk));
        done();
      },
    });
    // pino's own level lets DEBUG through to the OTel stream; stdout's branch is at info.
    const logger = pino.pino(
      { level: 'debug' },
      pino.multistream([{ level: 'info', stream: out }]),
    );
    const before = Date.now();
    const root = tracer.startSpan('POST /checkout');
    context.with(trace.setSpan(context.active(), root), () => {
      logger.debug({ orderId: 42 }, 'charging card');
      logger.info('payment declined');
    });
    logger.debug('between requests');
    root.setStatus({ code: api.SpanStatusCode.ERROR });
    root.end();
    const after = Date.now();
    for (let i = 0; i < 50 && (receiver.logs.length === 0 || receiver.requests.length === 0); i++) {
      await recorder.forceFlush();
      await loggerProvider.forceFlush();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(stdout.length, 1, 'stdout sees the info line only');
    assert.match(stdout[0]!, /payment declined/);
    const records = receiver.logs.flatMap((r) => logRecordsOf(r.decoded));
    assert.deepEqual(
      records.map((r) => r.body?.stringValue),
      ['charging card', 'payment declined'],
    );
    const spans = receiver.requests.flatMap((r) =>
      (
        r.decoded.resourceSpans as {
          scopeSpans: {
            spans: {
              attributes: { key: string; value: { stringValue: string } }[];
              events?: { name: string; timeUnixNano: string }[];
            }[];
          }[];
        }[]
      ).flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
    );
    const snapshotId = spans[0]!.attributes.find((a) => a.key === SNAPSHOT_ID_ATTRIBUTE)!.value
      .stringValue;
    // The same lines as events on the span they were logged in (for Jaeger), once each.
    assert.deepEqual(
      spans[0]!.events!.map((e) => [e.name, e.timeUnixNano]),
      records.map((r) => [r.body?.stringValue, r.timeUnixNano]),
    );
    const [debug, info] = records;
    for (const r of records) {
      assert.equal(r.traceId, root.spanContext().traceId);
      assert.equal(r.spanId, root.spanContext().spanId);
      assert.equal(attr(r, SNAPSHOT_ID_ATTRIBUTE), snapshotId);
      assert.equal(attr(r, TRIGGER_ATTRIBUTE), 'error');
      const ms = Number(BigInt(r.timeUnixNano!) / 1_000_000n);
      assert.ok(ms >= before - 1 && ms <= after + 1, `${ms} in [${before}, ${after}]`);
    }
    assert.equal(debug!.severityNumber, 5);
    assert.equal(debug!.severityText, 'debug');
    assert.equal(attr(debug!, 'orderId'), '42');
    assert.equal(info!.severityNumber, 9);
    assert.equal(recorder.stats().bufferedLogs, 1, 'the line outside the request stays');
    await recorder.shutdown();
    await loggerProvider.shutdown();
    await tracerProvider.shutdown();
  } finally {
    if (previous === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = previous;
    await receiver.close();
  }
});

test('real winston through instrumentation-winston and winston-transport: DEBUG recorded at an info logger; the workaround on SDK 3.x registers the provider on api-logs too', async () => {
  const receiver = await startOtlpProtoReceiver();
  const previous = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
  try {
    const recorder = new FlightRecorderSpanProcessor({ flushScope: 'trace' });
    const loggerProvider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'winston-test' }),
      processors: [recorder.logRecordProcessor()],
    });
    logsApi().disable();
    logsApi().setGlobalLoggerProvider(loggerProvider);
    // The workaround: winston-transport emits through @opentelemetry/api-logs'
    // global, which SDK 3.x's NodeSDK leaves unset. (On SDK 2.x it is the same global.)
    if (apiLogsGlobal() !== logsApi()) {
      apiLogsGlobal().disable();
      apiLogsGlobal().setGlobalLoggerProvider(loggerProvider);
    }
    const tracerProvider = new TracerProvider({ spanProcessors: [recorder] });
    const tracer = tracerProvider.getTracer('test');
    const winston = require('winston') as typeof import('winston');
    const console: string[] = [];
    const out = new Writable({
      write(chunk, _encoding, done) {
        console.push(String(chunk));
        done();
      },
    });
    const logger = winston.createLogger({
      level: 'info',
      transports: [new winston.transports.Stream({ stream: out })],
    });
    const root = tracer.startSpan('POST /refund');
    context.with(trace.setSpan(context.active(), root), () => {
      logger.debug('looking up order', { orderId: 7 });
      logger.info('refund refused');
    });
    root.setStatus({ code: api.SpanStatusCode.ERROR });
    root.end();
    for (let i = 0; i < 50 && receiver.logs.length === 0; i++) {
      await recorder.forceFlush();
      await loggerProvider.forceFlush();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(console.length, 1, 'the info logger writes the info line only');
    const records = receiver.logs.flatMap((r) => logRecordsOf(r.decoded));
    assert.deepEqual(
      records.map((r) => [r.body?.stringValue, r.severityNumber]),
      [
        ['looking up order', 5],
        ['refund refused', 9],
      ],
    );
    for (const r of records) {
      assert.equal(r.traceId, root.spanContext().traceId);
      assert.equal(attr(r, TRIGGER_ATTRIBUTE), 'error');
    }
    assert.equal(attr(records[0]!, 'orderId'), '7');
    await recorder.shutdown();
    await loggerProvider.shutdown();
    await tracerProvider.shutdown();
  } finally {
    if (previous === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = previous;
    await receiver.close();
  }
});

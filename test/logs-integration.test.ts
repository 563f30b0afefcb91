import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as api from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
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
import { runNode } from './helpers/process.js';
import './helpers/tracing.js';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

let unregister: () => void;
before(() => {
  unregister = registerInstrumentations({
    instrumentations: [new PinoInstrumentation()],
  });
});
after(() => {
  unregister();
  logsApi().disable();
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

test('real winston, set up as docs/logs.md shows it (examples/winston-logs.ts, run as it is in a child process): DEBUG recorded at an info logger, and its records carry the service.name the spans carry', async () => {
  const receiver = await startOtlpProtoReceiver();
  try {
    // The app: an info logger and a failing request, after the example's NodeSDK setup,
    // then a flush of NodeSDK's providers through the globals the example registers.
    const app = `
      import { createRequire } from 'node:module';
      import { SpanStatusCode, trace } from '@opentelemetry/api';
      import { logs } from '@opentelemetry/api-logs';
      const winston = createRequire(process.cwd() + '/')('winston');
      const logger = winston.createLogger({
        level: 'info',
        transports: [new winston.transports.Stream({ stream: process.stdout })],
      });
      trace.getTracer('app').startActiveSpan('POST /refund', (root) => {
        logger.debug('looking up order', { orderId: 7 });
        logger.info('refund refused');
        root.setStatus({ code: SpanStatusCode.ERROR });
        root.end();
      });
      await trace.getTracerProvider().getDelegate().forceFlush();
      // Without the example's last lines on SDK 3.x this is api-logs' no-op provider.
      await logs.getLoggerProvider().forceFlush?.();
      process.exit(0);
    `;
    const ran = await runNode(
      [
        '--import',
        'tsx',
        '--import',
        './examples/winston-logs.ts',
        '--input-type=module',
        '-e',
        app,
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_METRICS_EXPORTER: 'none',
          FLIGHT_RECORDER_EXPORT_DELAY_MS: '0',
        },
        timeoutMs: 60_000,
      },
    );
    assert.equal(ran.code, 0, ran.stderr);
    const printed = ran.stdout.trim().split('\n');
    assert.equal(printed.length, 1, `the info logger writes the info line only: ${ran.stdout}`);
    assert.match(printed[0]!, /refund refused/);
    const resourceSpans = receiver.requests.flatMap(
      (r) =>
        r.decoded.resourceSpans as {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: { name: string; traceId: string }[] }[];
        }[],
    );
    const root = resourceSpans
      .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))
      .find((s) => s.name === 'POST /refund');
    assert.ok(root, `no POST /refund span arrived: ${ran.stderr}`);
    const serviceOf = (resource?: {
      attributes?: { key: string; value: { stringValue?: string } }[];
    }) => resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
    assert.deepEqual(
      [...new Set(resourceSpans.map((rs) => serviceOf(rs.resource)))],
      ['checkout'],
      'the spans carry NodeSDK serviceName',
    );
    const resourceLogs = receiver.logs.flatMap((r) => r.decoded.resourceLogs ?? []);
    assert.deepEqual(
      [...new Set(resourceLogs.map((rl) => serviceOf(rl.resource)))],
      ['checkout'],
      "winston's records carry the spans' service.name, not unknown_service",
    );
    const records = receiver.logs.flatMap((r) => logRecordsOf(r.decoded));
    assert.deepEqual(
      records.map((r) => [r.body?.stringValue, r.severityNumber]),
      [
        ['looking up order', 5],
        ['refund refused', 9],
      ],
    );
    for (const r of records) {
      assert.equal(r.traceId, Buffer.from(root.traceId, 'base64').toString('hex'));
      assert.equal(attr(r, TRIGGER_ATTRIBUTE), 'error');
    }
    assert.equal(attr(records[0]!, 'orderId'), '7');
  } finally {
    await receiver.close();
  }
});

// A scope per request (a tracer or logger named after something unique):
// the resource and scope table holds at most 65,535 pairs, and once it is
// full the pairs no record holds any more are freed, so new scopes are still
// recorded instead of being kept out for good.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { MAX_PAIRS } from '../src/record/resource-scope-table.js';
import { makeLogging } from './helpers/logs.js';
import { TestExporter } from './helpers/test-exporter.js';

const SCOPES = MAX_PAIRS + 5_000;

test('spans: past 65,535 scopes, spans of new scopes are still recorded and exported', async () => {
  const exporter = new TestExporter();
  // A small ring: it holds only the newest few hundred spans.
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    triggers: [],
    maxBytes: 64 * 1024,
    runtimeEvents: false,
  });
  const provider = new TracerProvider({ spanProcessors: [recorder] });
  for (let i = 0; i < SCOPES; i++) provider.getTracer(`scope-${i}`).startSpan('op').end();
  provider.getTracer('a new scope').startSpan('fresh').end();
  const buffered = recorder.stats().bufferedSpans;
  await recorder.snapshot();
  const scopes = exporter.spans.map((s) => s.instrumentationScope.name);
  assert.equal(scopes.length, buffered);
  // The newest are held, each with its own scope.
  assert.equal(scopes.at(-1), 'a new scope');
  assert.equal(scopes.at(-2), `scope-${SCOPES - 1}`);
  assert.equal(new Set(scopes).size, scopes.length);
  await recorder.shutdown();
});

test('logs: past 65,535 scopes, records of new scopes are still recorded', async () => {
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new TestExporter(),
    triggers: [],
    logMaxBytes: 64 * 1024,
    runtimeEvents: false,
  });
  const logging = makeLogging(recorder);
  for (let i = 0; i < SCOPES; i++) {
    logging.provider
      .getLogger(`scope-${i}`)
      .emit({ severityNumber: SeverityNumber.DEBUG, body: `line ${i}` });
  }
  const stats = recorder.stats();
  assert.equal(stats.logsDropped, 0, 'no record kept out');
  assert.equal(stats.logsRecorded, SCOPES);
  assert.ok(stats.bufferedLogs > 0);
  await recorder.shutdown();
});

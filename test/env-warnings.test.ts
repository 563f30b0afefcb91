import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { runNode } from './helpers/process.js';

const APP = fileURLToPath(new URL('./fixtures/node-sdk-app.ts', import.meta.url));
const MESSAGE =
  'otel-flight-recorder: ignoring FLIGHT_RECORDER_LATENCY_THRESHOLD_MS="abc": expected a decimal integer >= 0 and <= 2147483647, or a percentile such as p99 (above p0, below p100); using the default 500';

/** Runs the plain NodeSDK app with a bad variable; nothing else of OpenTelemetry's exports. */
function runApp(extra: Record<string, string>) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: 'abc',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'carrier-pigeon',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_NODE_RESOURCE_DETECTORS: 'none',
    ...extra,
  };
  if (!('OTEL_LOG_LEVEL' in extra)) delete env.OTEL_LOG_LEVEL;
  return runNode(['--import', 'tsx', APP], { env });
}

const count = (text: string, part: string) => text.split(part).length - 1;
/** The recorder reads the OTLP protocol variable too, when it makes its export path. */
const PROTOCOL_MESSAGE =
  'otel-flight-recorder: ignoring OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="carrier-pigeon": expected http/protobuf, http/json or grpc; using the default "http/protobuf"';

// A real process, because what matters is what the user sees on the terminal
// with the real @opentelemetry/sdk-node.
describe('a bad environment value under NodeSDK', { concurrency: true }, () => {
  test('with OTEL_LOG_LEVEL unset (no diag logger), it is a process warning on stderr', async () => {
    const ran = await runApp({});
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /started/);
    assert.equal(count(ran.stderr, MESSAGE), 1, ran.stderr);
    assert.equal(count(ran.stderr, PROTOCOL_MESSAGE), 1, ran.stderr);
    assert.match(ran.stderr, /\[FLIGHT_RECORDER_ENV\] FlightRecorderWarning: otel-flight-recorder/);
  });

  test('with OTEL_LOG_LEVEL=warn, it goes once through the logger NodeSDK installed', async () => {
    const ran = await runApp({ OTEL_LOG_LEVEL: 'warn' });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(count(ran.stderr, MESSAGE), 1, ran.stderr);
    assert.equal(count(ran.stderr, PROTOCOL_MESSAGE), 1, ran.stderr);
    assert.doesNotMatch(ran.stderr, /FlightRecorderWarning/);
  });
});

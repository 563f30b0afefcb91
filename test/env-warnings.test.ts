import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { runNode } from './helpers/process.js';

const APP = fileURLToPath(new URL('./fixtures/node-sdk-app.ts', import.meta.url));
const SETUP_APP = fileURLToPath(new URL('./fixtures/node-sdk-setup-app.ts', import.meta.url));
/** Hides the optional peer dependency `redis` from the app. */
const WITHOUT_REDIS = new URL('./helpers/without-redis.ts', import.meta.url).href;
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

/**
 * Runs the README's setup with only `vars` of the recorder's and the OTLP
 * exporter's settings, nothing of OpenTelemetry's exporting but traces.
 */
function runSetup(
  vars: Record<string, string>,
  options: { loggerFirst?: boolean; withoutRedis?: boolean } = {},
) {
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(OTEL_|FLIGHT_RECORDER_)/.test(name)) env[name] = value;
  }
  Object.assign(env, {
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_NODE_RESOURCE_DETECTORS: 'none',
    ...vars,
  });
  return runNode(
    [
      '--import',
      'tsx',
      ...(options.withoutRedis === true ? ['--import', WITHOUT_REDIS] : []),
      SETUP_APP,
      ...(options.loggerFirst === true ? ['logger-first'] : []),
    ],
    { env, timeoutMs: 30_000 },
  );
}

/** The lines of `text` that hold `part`. */
const linesWith = (text: string, part: string) =>
  text.split('\n').filter((line) => line.includes(part));

/** `stderr` says `value` on exactly one line, which names `variable` too; returns it. */
function oneLineNaming(stderr: string, variable: string, value: string): string {
  const lines = linesWith(stderr, value);
  assert.equal(lines.length, 1, `one line with ${value}:\n${stderr}`);
  assert.ok(lines[0]!.includes(variable), `${variable} named:\n${stderr}`);
  return lines[0]!;
}

/** Bad values of the OTLP exporter's own trace variables: its warnings come at construction. */
const BAD_OTLP = {
  OTEL_EXPORTER_OTLP_TIMEOUT: 'abc',
  OTEL_EXPORTER_OTLP_COMPRESSION: 'zip',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '::not a url',
};

/** Each bad OTLP value is said once, naming the variable and the value. */
function assertOtlpWarnings(stderr: string): string[] {
  return [
    oneLineNaming(stderr, 'OTEL_EXPORTER_OTLP_TIMEOUT', "'abc'"),
    oneLineNaming(stderr, 'OTEL_EXPORTER_OTLP_COMPRESSION', "'zip'"),
    oneLineNaming(stderr, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="::not a url"', '::not a url'),
  ];
}

describe(
  'the OTLP exporter’s warnings about OTEL_EXPORTER_OTLP_* under NodeSDK',
  { concurrency: 3 },
  () => {
    for (const protocol of ['http/protobuf', 'http/json', 'grpc']) {
      test(`${protocol}, OTEL_LOG_LEVEL unset: each is one process warning naming the variable and the value`, async () => {
        const ran = await runSetup({ ...BAD_OTLP, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol });
        assert.equal(ran.code, 0, ran.stderr);
        assert.match(ran.stdout, /started/);
        for (const line of assertOtlpWarnings(ran.stderr)) {
          assert.match(
            line,
            /\[FLIGHT_RECORDER_ENV\] FlightRecorderWarning: otel-flight-recorder: /,
          );
        }
      });

      test(`${protocol}, OTEL_LOG_LEVEL=warn: each goes once through the logger NodeSDK installed`, async () => {
        const ran = await runSetup({
          ...BAD_OTLP,
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
          OTEL_LOG_LEVEL: 'warn',
        });
        assert.equal(ran.code, 0, ran.stderr);
        for (const line of assertOtlpWarnings(ran.stderr))
          assert.match(line, /^otel-flight-recorder: /);
        assert.doesNotMatch(ran.stderr, /FlightRecorderWarning/);
      });
    }

    test('a logger installed before the recorder is built gets each once, not the SDK’s and ours', async () => {
      const ran = await runSetup(BAD_OTLP, { loggerFirst: true });
      assert.equal(ran.code, 0, ran.stderr);
      for (const line of assertOtlpWarnings(ran.stderr)) {
        assert.match(line, /^diag warn: otel-flight-recorder: /);
      }
      assert.doesNotMatch(ran.stderr, /FlightRecorderWarning/);
    });

    test('good values: no warning', async () => {
      const ran = await runSetup({
        OTEL_EXPORTER_OTLP_TIMEOUT: ' 5000 ',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces',
      });
      assert.equal(ran.code, 0, ran.stderr);
      assert.doesNotMatch(ran.stderr, /otel-flight-recorder/);
    });
  },
);

describe('warnings from setting the recorder up, under NodeSDK', { concurrency: true }, () => {
  const noSigInfo = 'SIGINFO' in constants.signals ? 'this platform has SIGINFO' : false;
  for (const level of [undefined, 'warn']) {
    const how = level === undefined ? 'a process warning' : 'through the logger NodeSDK installed';
    test(
      `FLIGHT_RECORDER_SNAPSHOT_SIGNAL naming a signal this platform lacks: once, ${how}`,
      { skip: noSigInfo },
      async () => {
        const ran = await runSetup({
          FLIGHT_RECORDER_SNAPSHOT_SIGNAL: 'info',
          ...(level === undefined ? {} : { OTEL_LOG_LEVEL: level }),
        });
        assert.equal(ran.code, 0, ran.stderr);
        const line = oneLineNaming(
          ran.stderr,
          'FLIGHT_RECORDER_SNAPSHOT_SIGNAL="info"',
          'SIGINFO does not exist on',
        );
        assert.equal(line.includes('FlightRecorderWarning'), level === undefined, ran.stderr);
      },
    );

    test(`FLIGHT_RECORDER_REDIS_URL without the redis package installed: once, ${how}`, async () => {
      const ran = await runSetup(
        {
          // Loopback; never dialled, as the client cannot be loaded.
          FLIGHT_RECORDER_REDIS_URL: 'redis://127.0.0.1:6379',
          ...(level === undefined ? {} : { OTEL_LOG_LEVEL: level }),
        },
        { withoutRedis: true },
      );
      assert.equal(ran.code, 0, ran.stderr);
      const line = oneLineNaming(
        ran.stderr,
        'otel-flight-recorder: coordination',
        'needs the optional peer dependency `redis`',
      );
      assert.equal(line.includes('FlightRecorderWarning'), level === undefined, ran.stderr);
    });
  }
});

test('building the default exporter leaves no @opentelemetry/api global behind where there was none', async () => {
  // Left behind, stamped with this package's API version, it kept another
  // copy of the API (the app's, NodeSDK's) from registering anything: no
  // tracer provider, no context manager, tracing off without a word.
  const file = fileURLToPath(new URL('./fixtures/api-global-after-recorder.ts', import.meta.url));
  const ran = await runNode(['--import', 'tsx', file], {
    env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_TIMEOUT: 'abc' },
    timeoutMs: 30_000,
  });
  assert.equal(ran.code, 0, ran.stderr);
  assert.deepEqual(JSON.parse(ran.stdout), { before: false, after: null });
});

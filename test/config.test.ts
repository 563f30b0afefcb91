import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveOptions } from '../src/config.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { DEFAULTS } from '../src/options.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag } from './helpers/tracing.js';

describe('options', () => {
  test('defaults apply when nothing is set', () => {
    const o = resolveOptions({}, {});
    assert.equal(o.latencyThresholdMs, 500);
    assert.deepEqual(o.triggers, ['latency', 'error']);
    assert.equal(o.minAgeMs, 10_000);
    assert.equal(o.maxBytes, 16_777_216);
    assert.equal(o.flushScope, 'window');
    assert.equal(o.minFlushIntervalMs, 60_000);
    assert.equal(o.maxExportBatchSize, 512);
    assert.equal(o.exportTimeoutMs, 30_000);
    assert.equal(o.skipSampled, false);
    assert.equal(o.disabled, false);
  });

  test('code wins over the environment, which wins over the default', () => {
    const env = {
      FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: '250',
      FLIGHT_RECORDER_TRIGGERS: ' error ',
      FLIGHT_RECORDER_MIN_AGE_MS: '5000',
      FLIGHT_RECORDER_MAX_BYTES: '1048576',
      FLIGHT_RECORDER_FLUSH_SCOPE: 'TRACE',
      FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS: '0',
      FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE: '64',
      FLIGHT_RECORDER_EXPORT_TIMEOUT_MS: '1000',
      FLIGHT_RECORDER_SKIP_SAMPLED: 'TRUE',
      FLIGHT_RECORDER_DISABLED: 'false',
    };
    const fromEnv = resolveOptions({}, env);
    assert.equal(fromEnv.latencyThresholdMs, 250);
    assert.deepEqual(fromEnv.triggers, ['error']);
    assert.equal(fromEnv.minAgeMs, 5000);
    assert.equal(fromEnv.maxBytes, 1_048_576);
    assert.equal(fromEnv.flushScope, 'trace');
    assert.equal(fromEnv.minFlushIntervalMs, 0);
    assert.equal(fromEnv.maxExportBatchSize, 64);
    assert.equal(fromEnv.exportTimeoutMs, 1000);
    assert.equal(fromEnv.skipSampled, true);
    assert.equal(fromEnv.disabled, false);
    const fromCode = resolveOptions({ latencyThresholdMs: 100, triggers: ['latency'] }, env);
    assert.equal(fromCode.latencyThresholdMs, 100);
    assert.deepEqual(fromCode.triggers, ['latency']);
    assert.deepEqual(resolveOptions({}, { FLIGHT_RECORDER_TRIGGERS: 'latency,error' }).triggers, [
      'latency',
      'error',
    ]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['latencyThresholdMs', -1, /`latencyThresholdMs`.*finite number >= 0.*-1/],
    ['latencyThresholdMs', Number.NaN, /`latencyThresholdMs`.*NaN/],
    ['latencyThresholdMs', '500', /`latencyThresholdMs`.*"500"/],
    ['minAgeMs', Number.POSITIVE_INFINITY, /`minAgeMs`.*Infinity/],
    ['maxBytes', 0, /`maxBytes`.*integer > 0.*got 0/],
    ['maxBytes', 1.5, /`maxBytes`.*1\.5/],
    ['minFlushIntervalMs', -5, /`minFlushIntervalMs`.*-5/],
    ['maxExportBatchSize', 0, /`maxExportBatchSize`.*0/],
    ['exportTimeoutMs', 0, /`exportTimeoutMs`.*finite number > 0.*0/],
    ['flushScope', 'everything', /`flushScope`.*one of window, trace.*"everything"/],
    ['triggers', ['latency', 'slow'], /`triggers`.*\["latency","slow"\]/],
    ['triggers', 'latency', /`triggers`.*"latency"/],
    ['shouldTrigger', 'yes', /`shouldTrigger`.*function.*"yes"/],
    ['onFlush', 42, /`onFlush`.*function.*42/],
    ['exporter', {}, /`exporter`.*SpanExporter/],
    ['disabled', 'true', /`disabled`.*boolean.*"true"/],
  ];
  for (const [option, value, message] of bad) {
    test(`a bad ${option} in code throws a TypeError naming it and the value (${String(value)})`, () => {
      assert.throws(
        () => new FlightRecorderSpanProcessor({ exporter: new TestExporter(), [option]: value }),
        (error: unknown) => error instanceof TypeError && message.test(error.message),
      );
    });
  }

  const badEnv: [string, string, keyof typeof DEFAULTS][] = [
    ['FLIGHT_RECORDER_LATENCY_THRESHOLD_MS', 'fast', 'latencyThresholdMs'],
    ['FLIGHT_RECORDER_LATENCY_THRESHOLD_MS', '-3', 'latencyThresholdMs'],
    ['FLIGHT_RECORDER_TRIGGERS', 'latency,slow', 'triggers'],
    ['FLIGHT_RECORDER_TRIGGERS', ',', 'triggers'],
    ['FLIGHT_RECORDER_MIN_AGE_MS', '10s', 'minAgeMs'],
    ['FLIGHT_RECORDER_MAX_BYTES', '16MiB', 'maxBytes'],
    ['FLIGHT_RECORDER_MAX_BYTES', '0', 'maxBytes'],
    ['FLIGHT_RECORDER_FLUSH_SCOPE', 'all', 'flushScope'],
    ['FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS', 'soon', 'minFlushIntervalMs'],
    ['FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE', '2.5', 'maxExportBatchSize'],
    ['FLIGHT_RECORDER_EXPORT_TIMEOUT_MS', '0', 'exportTimeoutMs'],
    ['FLIGHT_RECORDER_SKIP_SAMPLED', 'sometimes', 'skipSampled'],
    ['FLIGHT_RECORDER_DISABLED', 'maybe', 'disabled'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'SIGUSR1', 'snapshotSignal'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'SIGKILL', 'snapshotSignal'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'banana', 'snapshotSignal'],
    ['FLIGHT_RECORDER_CRASH_DUMP', 'yes please', 'crashDump'],
  ];
  for (const [variable, value, option] of badEnv) {
    test(`a bad ${variable}=${value} warns once, naming both, and the default applies`, () => {
      const diagnostics = captureDiag();
      try {
        const resolved = resolveOptions({}, { [variable]: value });
        assert.deepEqual(resolved[option], DEFAULTS[option]);
        assert.equal(diagnostics.messages.length, 1);
        assert.equal(diagnostics.messages[0]!.level, 'warn');
        assert.ok(diagnostics.messages[0]!.message.includes(variable));
        assert.ok(diagnostics.messages[0]!.message.includes(JSON.stringify(value)));
      } finally {
        diagnostics.restore();
      }
    });
  }

  test('the environment is read when a recorder is built, not at import', () => {
    process.env.FLIGHT_RECORDER_FLUSH_SCOPE = 'trace';
    try {
      assert.equal(
        new FlightRecorderSpanProcessor({ exporter: new TestExporter() }).flushScope,
        'trace',
      );
    } finally {
      delete process.env.FLIGHT_RECORDER_FLUSH_SCOPE;
    }
    assert.equal(
      new FlightRecorderSpanProcessor({ exporter: new TestExporter() }).flushScope,
      'window',
    );
  });

  test('bad environment values never throw from the constructor', () => {
    const diagnostics = captureDiag();
    process.env.FLIGHT_RECORDER_MAX_BYTES = 'lots';
    try {
      assert.doesNotThrow(() => new FlightRecorderSpanProcessor({ exporter: new TestExporter() }));
    } finally {
      delete process.env.FLIGHT_RECORDER_MAX_BYTES;
      diagnostics.restore();
    }
  });
});

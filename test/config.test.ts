import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decimalInteger,
  duration,
  FILE_EXPORTER_OPTIONS,
  MAX_BUFFER_BYTES,
  MAX_DURATION_MS,
  OPTIONS,
  option,
  resolveOptions,
  resolveTable,
} from '../src/config.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag, settle } from './helpers/tracing.js';

type Name = keyof typeof OPTIONS;

/** Resolves with `env` only, collecting the warnings. */
function fromEnv(env: Record<string, string>) {
  const warnings: string[] = [];
  const options = resolveOptions({}, env, (m) => warnings.push(m));
  return { options, warnings };
}

const NUMERIC = (Object.keys(OPTIONS) as Name[]).filter((name) => OPTIONS[name].unit);

describe('options', () => {
  test('defaults apply when nothing is set, and are the documented ones', () => {
    const { options, warnings } = fromEnv({});
    assert.deepEqual(warnings, []);
    for (const name of Object.keys(OPTIONS) as Name[]) {
      assert.deepEqual(options[name], OPTIONS[name].default, name);
    }
    // The promises the README makes, said once more by value.
    assert.equal(options.latencyThresholdMs, 500);
    assert.deepEqual(options.triggers, ['latency', 'error']);
    assert.equal(options.minAgeMs, 10_000);
    assert.equal(options.maxBytes, 16_777_216);
    assert.equal(options.flushScope, 'window');
    assert.equal(options.minFlushIntervalMs, 60_000);
    assert.equal(options.maxExportBatchSize, 2048);
    assert.equal(options.maxExportBatchBytes, 1_048_576);
    assert.equal(options.exportTimeoutMs, 30_000);
    assert.equal(options.snapshotDir, 'flight-recorder-snapshots');
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
    const { options: o, warnings } = fromEnv(env);
    assert.deepEqual(warnings, []);
    assert.equal(o.latencyThresholdMs, 250);
    assert.deepEqual(o.triggers, ['error']);
    assert.equal(o.minAgeMs, 5000);
    assert.equal(o.maxBytes, 1_048_576);
    assert.equal(o.flushScope, 'trace');
    assert.equal(o.minFlushIntervalMs, 0);
    assert.equal(o.maxExportBatchSize, 64);
    assert.equal(o.exportTimeoutMs, 1000);
    assert.equal(o.skipSampled, true);
    assert.equal(o.disabled, false);
    const fromCode = resolveOptions({ latencyThresholdMs: 100, triggers: ['latency'] }, env, () =>
      assert.fail('no warning'),
    );
    assert.equal(fromCode.latencyThresholdMs, 100);
    assert.deepEqual(fromCode.triggers, ['latency']);
    assert.deepEqual(
      fromEnv({ FLIGHT_RECORDER_TRIGGERS: 'latency,error,latency' }).options.triggers,
      ['latency', 'error'],
    );
    assert.deepEqual(fromEnv({ FLIGHT_RECORDER_TRIGGERS: 'none' }).options.triggers, []);
  });

  test('durations and sizes are held to what timers and typed arrays can hold', () => {
    assert.equal(MAX_DURATION_MS, 2 ** 31 - 1);
    assert.equal(MAX_BUFFER_BYTES, 2 ** 30);
    const longest = resolveOptions(
      { exportTimeoutMs: MAX_DURATION_MS, minAgeMs: MAX_DURATION_MS, maxBytes: MAX_BUFFER_BYTES },
      {},
      () => {},
    );
    assert.equal(longest.exportTimeoutMs, MAX_DURATION_MS);
    assert.equal(longest.maxBytes, MAX_BUFFER_BYTES);
    const { options, warnings } = fromEnv({
      FLIGHT_RECORDER_EXPORT_TIMEOUT_MS: String(MAX_DURATION_MS),
      FLIGHT_RECORDER_MAX_BYTES: String(MAX_BUFFER_BYTES),
    });
    assert.deepEqual(warnings, []);
    assert.equal(options.exportTimeoutMs, MAX_DURATION_MS);
    assert.equal(options.maxBytes, MAX_BUFFER_BYTES);
  });

  const bad: [string, unknown, RegExp][] = [
    ['latencyThresholdMs', -1, /`latencyThresholdMs`.*finite number >= 0.*-1/],
    ['latencyThresholdMs', Number.NaN, /`latencyThresholdMs`.*NaN/],
    ['latencyThresholdMs', '500', /`latencyThresholdMs`.*"500"/],
    ['latencyThresholdMs', 2 ** 31, /`latencyThresholdMs`.*<= 2147483647.*2147483648/],
    ['minAgeMs', Number.POSITIVE_INFINITY, /`minAgeMs`.*Infinity/],
    ['minAgeMs', 2 ** 31, /`minAgeMs`.*<= 2147483647.*2147483648/],
    ['maxBytes', 0, /`maxBytes`.*integer >= 1024.*got 0/],
    ['maxBytes', 100, /`maxBytes`.*integer >= 1024 and <= 1073741824.*got 100/],
    ['logMaxBytes', 1023, /`logMaxBytes`.*integer >= 1024.*got 1023/],
    ['maxBytes', 1.5, /`maxBytes`.*1\.5/],
    ['maxBytes', 2 ** 30 + 1, /`maxBytes`.*<= 1073741824.*1073741825/],
    ['maxBytes', 10n, /`maxBytes`.*10n/],
    ['minFlushIntervalMs', -5, /`minFlushIntervalMs`.*-5/],
    ['minFlushIntervalMs', 2 ** 31, /`minFlushIntervalMs`.*2147483648/],
    ['maxExportBatchSize', 0, /`maxExportBatchSize`.*0/],
    ['maxExportBatchSize', 2 ** 31, /`maxExportBatchSize`.*<= 2147483647.*2147483648/],
    ['maxExportBatchBytes', 0, /`maxExportBatchBytes`.*integer >= 1.*got 0/],
    ['maxExportBatchBytes', 2 ** 30 + 1, /`maxExportBatchBytes`.*<= 1073741824.*1073741825/],
    ['exportTimeoutMs', 0, /`exportTimeoutMs`.*finite number >= 1.*0/],
    // Node's setTimeout turns 2^31 ms into 1 ms: every export would time out.
    ['exportTimeoutMs', 2 ** 31, /`exportTimeoutMs`.*<= 2147483647.*2147483648/],
    ['flushScope', 'everything', /`flushScope`.*one of window, trace.*"everything"/],
    ['triggers', ['latency', 'slow'], /`triggers`.*\["latency","slow"\]/],
    ['triggers', 'latency', /`triggers`.*"latency"/],
    ['shouldTrigger', 'yes', /`shouldTrigger`.*function.*"yes"/],
    ['onFlush', 42, /`onFlush`.*function.*42/],
    ['exporter', {}, /`exporter`.*SpanExporter/],
    ['exporter', null, /`exporter`.*SpanExporter.*null/],
    ['disabled', 'true', /`disabled`.*boolean.*"true"/],
    ['snapshotDir', '', /`snapshotDir`.*a path that is not blank.*got ""/],
    ['snapshotDir', ' \t', /`snapshotDir`.*a path that is not blank.*got " \\t"/],
  ];
  for (const [option, value, message] of bad) {
    test(`a bad ${option} in code throws a TypeError naming it and the value (${String(value)})`, () => {
      assert.throws(
        () => new FlightRecorderSpanProcessor({ exporter: new TestExporter(), [option]: value }),
        (error: unknown) => error instanceof TypeError && message.test(error.message),
      );
    });
  }

  test('options that are not an object throw a TypeError', () => {
    assert.throws(
      () => new FlightRecorderSpanProcessor(5 as never),
      /Expected options to be an object, got 5/,
    );
  });

  // The OpenTelemetry spec's rule for numbers, applied to every numeric
  // variable: a decimal integer, nothing else.
  const notDecimal = ['0x10', ' 5 ', '5 ', '1e3', '5.0', '+5', '-1', '1_000', 'fast', '10s'];
  const outOfRange = ['9999999999999999999999', '9007199254740993'];
  for (const name of NUMERIC) {
    const { env, default: fallback } = OPTIONS[name];
    test(`${env} takes decimal integers only; anything else warns once and the default applies`, () => {
      for (const value of [...notDecimal, ...outOfRange]) {
        const { options, warnings } = fromEnv({ [env!]: value });
        assert.equal(options[name], fallback, `${env}=${JSON.stringify(value)}`);
        assert.equal(warnings.length, 1, `${env}=${JSON.stringify(value)}`);
        assert.ok(warnings[0]!.includes(`${env}=${JSON.stringify(value)}`), warnings[0]);
        assert.match(warnings[0]!, /expected a decimal integer >= \d+ and <= \d+/);
        assert.ok(warnings[0]!.includes(`using the default ${String(fallback)}`), warnings[0]);
      }
      // Within every numeric option's range (the stall threshold's starts at
      // 20, a buffer's at 1024 bytes).
      assert.equal(fromEnv({ [env!]: '1024' }).options[name], 1024);
    });
  }

  const badEnv: [string, string, Name][] = [
    ['FLIGHT_RECORDER_LATENCY_THRESHOLD_MS', '2147483648', 'latencyThresholdMs'],
    ['FLIGHT_RECORDER_EXPORT_TIMEOUT_MS', '9999999999', 'exportTimeoutMs'],
    ['FLIGHT_RECORDER_EXPORT_TIMEOUT_MS', '0', 'exportTimeoutMs'],
    ['FLIGHT_RECORDER_MAX_BYTES', '1073741825', 'maxBytes'],
    ['FLIGHT_RECORDER_MAX_BYTES', '0', 'maxBytes'],
    // 16 MiB meant, 16 bytes written: a buffer that would record nothing.
    ['FLIGHT_RECORDER_MAX_BYTES', '16', 'maxBytes'],
    ['FLIGHT_RECORDER_LOG_MAX_BYTES', '1023', 'logMaxBytes'],
    ['FLIGHT_RECORDER_STALL_THRESHOLD_MS', '19', 'stallThresholdMs'],
    ['FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE', '0', 'maxExportBatchSize'],
    ['FLIGHT_RECORDER_MAX_EXPORT_BATCH_BYTES', '1 MiB', 'maxExportBatchBytes'],
    ['FLIGHT_RECORDER_TRIGGERS', 'latency,slow', 'triggers'],
    ['FLIGHT_RECORDER_TRIGGERS', ',', 'triggers'],
    ['FLIGHT_RECORDER_FLUSH_SCOPE', 'all', 'flushScope'],
    ['FLIGHT_RECORDER_SKIP_SAMPLED', 'sometimes', 'skipSampled'],
    ['FLIGHT_RECORDER_DISABLED', 'maybe', 'disabled'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'SIGUSR1', 'snapshotSignal'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'SIGKILL', 'snapshotSignal'],
    ['FLIGHT_RECORDER_SNAPSHOT_SIGNAL', 'banana', 'snapshotSignal'],
    ['FLIGHT_RECORDER_SNAPSHOT_DIR', '  ', 'snapshotDir'],
    ['FLIGHT_RECORDER_CRASH_DUMP', 'yes please', 'crashDump'],
  ];
  for (const [variable, value, option] of badEnv) {
    test(`a bad ${variable}=${value} warns once, naming both, and the default applies`, () => {
      const { options, warnings } = fromEnv({ [variable]: value });
      assert.deepEqual(options[option], OPTIONS[option].default);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.includes(`${variable}=${JSON.stringify(value)}`), warnings[0]);
    });
  }

  test('an empty variable counts as unset, as the OpenTelemetry spec says', () => {
    const env = Object.fromEntries(
      Object.values(OPTIONS).flatMap((row) => (row.env ? [[row.env, '']] : [])),
    );
    assert.ok(Object.keys(env).length >= 12);
    const { options, warnings } = fromEnv(env);
    assert.deepEqual(warnings, []);
    assert.deepEqual(options, fromEnv({}).options);
  });

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

  test('a bad variable never throws from the constructor; its warning reaches diag once set up', async () => {
    process.env.FLIGHT_RECORDER_MAX_BYTES = 'lots';
    let recorder: FlightRecorderSpanProcessor | undefined;
    try {
      recorder = new FlightRecorderSpanProcessor({ exporter: new TestExporter() });
    } finally {
      delete process.env.FLIGHT_RECORDER_MAX_BYTES;
    }
    // As NodeSDK does: the logger is installed after the recorder is built.
    const diagnostics = captureDiag();
    try {
      assert.equal(diagnostics.messages.length, 0, 'nothing is logged during construction');
      await settle();
      assert.equal(diagnostics.messages.length, 1);
      assert.equal(diagnostics.messages[0]!.level, 'warn');
      assert.match(diagnostics.messages[0]!.message, /FLIGHT_RECORDER_MAX_BYTES="lots"/);
    } finally {
      diagnostics.restore();
      await recorder.shutdown();
    }
  });
});

describe('an option the table does not know', () => {
  test('is ignored with one warning naming it, and the right spelling when only the case is off', async () => {
    const warnings: string[] = [];
    const options = resolveOptions(
      { maxbytes: 5, flushscope: 'trace', maxExportBatch: 9, later: true } as never,
      {},
      (m) => warnings.push(m),
    );
    assert.equal(options.maxBytes, OPTIONS.maxBytes.default, 'the default still applies');
    assert.deepEqual(warnings, [
      'otel-flight-recorder: ignoring the unknown option "maxbytes" (did you mean `maxBytes`?)',
      'otel-flight-recorder: ignoring the unknown option "flushscope" (did you mean `flushScope`?)',
      'otel-flight-recorder: ignoring the unknown option "maxExportBatch"',
      'otel-flight-recorder: ignoring the unknown option "later"',
    ]);
    // Within two edits of one option, it is named.
    const typos: string[] = [];
    resolveOptions({ maxByte: 1, minAgMs: 1 } as never, {}, (m) => typos.push(m));
    assert.deepEqual(typos, [
      'otel-flight-recorder: ignoring the unknown option "maxByte" (did you mean `maxBytes`?)',
      'otel-flight-recorder: ignoring the unknown option "minAgMs" (did you mean `minAgeMs`?)',
    ]);
    // An array is not an options object.
    assert.throws(
      () => resolveOptions([1] as never, {}, () => {}),
      (e: unknown) => e instanceof TypeError && /Expected options to be an object/.test(e.message),
    );
    // Known options, with undefined as their value, say nothing.
    const quiet: string[] = [];
    resolveOptions({ maxBytes: undefined, exporter: undefined }, {}, (m) => quiet.push(m));
    assert.deepEqual(quiet, []);

    // From the constructor, through the same channel as a bad variable.
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new TestExporter(),
      minAgems: 5,
    } as never);
    const diagnostics = captureDiag();
    try {
      await settle();
      assert.deepEqual(
        diagnostics.messages.map((m) => m.message),
        ['otel-flight-recorder: ignoring the unknown option "minAgems" (did you mean `minAgeMs`?)'],
      );
    } finally {
      diagnostics.restore();
      await recorder.shutdown();
    }
  });

  test('a constructor that throws on a bad option leaves nothing installed in the process', () => {
    const listeners = () => ({
      usr2: process.listenerCount('SIGUSR2'),
      crash: process.listenerCount('uncaughtExceptionMonitor'),
    });
    const before = listeners();
    assert.throws(
      () =>
        new FlightRecorderSpanProcessor({
          snapshotSignal: 'SIGUSR2',
          crashDump: true,
          coordination: { redis: 'http://oops:6379/' },
        }),
      (error: unknown) => error instanceof TypeError && /coordination\.redis/.test(error.message),
    );
    assert.deepEqual(listeners(), before);
  });

  test('of coordination is named with its prefix', async () => {
    const warnings: string[] = [];
    const { resolveCoordination, startCoordination } = await import('../src/coordination/start.js');
    const resolved = resolveCoordination(
      { Redis: 'redis://x', channelName: 'x' } as never,
      {},
      (m) => warnings.push(m),
    );
    const coordinator = startCoordination(resolved, {} as never);
    assert.equal(coordinator, undefined, 'no redis: coordination stays off');
    assert.deepEqual(warnings, [
      'otel-flight-recorder: ignoring the unknown option "coordination.Redis" (did you mean `coordination.redis`?)',
      'otel-flight-recorder: ignoring the unknown option "coordination.channelName"',
    ]);
  });
});

describe('a table row', () => {
  // A row may take a number or a word, as a percentile threshold will.
  type Threshold = number | `p${number}`;
  const isPercentile = (v: unknown): v is `p${number}` =>
    typeof v === 'string' && /^p(?:[1-9][0-9]?|99\.9)$/.test(v);
  const TABLE = {
    thresholdMs: option<Threshold>({
      ...duration(0),
      env: 'TEST_THRESHOLD',
      parse: (raw) => (isPercentile(raw) ? raw : decimalInteger(raw)),
      check: (v) => (isPercentile(v) ? undefined : duration(0).check(v)),
      envExpected: 'a decimal integer of ms, or a percentile such as p99',
      default: 500,
      meaning: 'a test row',
    }),
  };

  test('parses a number or a percentile, from code and environment alike', () => {
    const resolve = (given: object, env: Record<string, string>) => {
      const warnings: string[] = [];
      const { thresholdMs } = resolveTable(TABLE, given, env, (m) => warnings.push(m));
      return { thresholdMs, warnings };
    };
    assert.deepEqual(resolve({}, { TEST_THRESHOLD: 'p99' }), { thresholdMs: 'p99', warnings: [] });
    assert.deepEqual(resolve({}, { TEST_THRESHOLD: '250' }), { thresholdMs: 250, warnings: [] });
    assert.deepEqual(resolve({ thresholdMs: 'p50' }, {}), { thresholdMs: 'p50', warnings: [] });
    const bad = resolve({}, { TEST_THRESHOLD: 'p100' });
    assert.equal(bad.thresholdMs, 500);
    assert.match(
      bad.warnings[0]!,
      /TEST_THRESHOLD="p100": expected a decimal integer of ms, or a percentile/,
    );
    assert.throws(() => resolve({ thresholdMs: 'p100' }, {}), /`thresholdMs`.*"p100"/);
  });
});

describe('FileSpanExporter options', () => {
  test('the directory is the same row as the recorder’s snapshotDir', () => {
    assert.equal(FILE_EXPORTER_OPTIONS.directory.env, OPTIONS.snapshotDir.env);
    assert.equal(FILE_EXPORTER_OPTIONS.directory.default, OPTIONS.snapshotDir.default);
  });
});

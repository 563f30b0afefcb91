import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DiagLogLevel } from '@opentelemetry/api';
import { resolveOptions } from '../src/config.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import {
  installSnapshotSignal,
  writeSnapshotToDirectory,
} from '../src/snapshot/snapshot-signal.js';
import type { SnapshotSource } from '../src/snapshot/snapshot-writer.js';
import { startChild, waitForFiles, within } from './fixtures/child.js';
import { attributesOf, spansOf } from './fixtures/otlp.js';
import { makeRecorder, recordTraces, shuttingDownWhileExporting } from './fixtures/recorder.js';
import { tempDir } from './helpers/temp-dir.js';
import { captureStderr } from './helpers/stderr.js';
import { captureDiag, names, until } from './helpers/tracing.js';
import { TestExporter } from './helpers/test-exporter.js';

describe('snapshot signal', () => {
  test('each signal writes a snapshot file of the window; the process keeps running', async () => {
    const dir = tempDir();
    const child = startChild('wait', {
      FLIGHT_RECORDER_SNAPSHOT_SIGNAL: 'SIGUSR2',
      FLIGHT_RECORDER_SNAPSHOT_DIR: dir,
    });
    try {
      await within(child.ready, 15_000, 'child start');
      const pid = child.process.pid!;
      process.kill(pid, 'SIGUSR2');
      const [first] = await waitForFiles(dir, 1);
      // The file is in place before the write is over (the directory is
      // pruned after the rename), and a signal during a write is ignored by
      // design: the second goes once the child says the first is written.
      await until(() => /SIGUSR2: snapshot of \d+ spans written to /.test(child.stderr), 5_000);
      process.kill(pid, 'SIGUSR2');
      const names = await waitForFiles(dir, 2);
      assert.equal(child.process.exitCode, null, 'the signal did not end the process');

      assert.match(first!, /^flight-recorder-.*-signal-[0-9a-f]{16}\.json$/);
      const spans = spansOf(JSON.parse(await readFile(join(dir, first!), 'utf8')));
      assert.deepEqual(spans.map((s) => s.name).sort(), [
        'GET /item/0',
        'GET /item/1',
        'load cart',
        'task 1',
        'task 1',
        'task 2',
        'task 2',
      ]);
      const id = /-signal-([0-9a-f]{16})\.json$/.exec(first!)![1];
      for (const span of spans) {
        assert.equal(attributesOf(span)['flight_recorder.trigger'], 'signal');
        assert.equal(attributesOf(span)['flight_recorder.snapshot.id'], id);
      }
      assert.notEqual(names[0], names[1], 'each signal has its own file and snapshot id');
      assert.match(child.stderr, /SIGUSR2: snapshot of 7 spans written to /);
    } finally {
      child.kill();
    }
  });

  test('an unwritable directory rejects with an error naming it; the recorder is unharmed', async () => {
    const dir = tempDir();
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 2);
    await assert.rejects(
      writeSnapshotToDirectory(recorder, { directory: join(file, 'sub') }, 'signal'),
      /cannot write snapshot files to directory/,
    );
    assert.equal(recorder.stats().bufferedSpans, 6);
    const { path } = await writeSnapshotToDirectory(recorder, { directory: dir }, 'signal');
    assert.equal(spansOf(JSON.parse(await readFile(path, 'utf8'))).length, 6);
    await recorder.shutdown();
  });

  test('a signal to a recorder with an unwritable directory logs through diag, and nothing throws', async () => {
    const dir = tempDir();
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const diagnostics = captureDiag(DiagLogLevel.INFO);
    try {
      const recorder = new FlightRecorderSpanProcessor({
        exporter: new TestExporter(),
        snapshotSignal: 'SIGUSR2',
        snapshotDir: join(file, 'sub'),
      });
      process.kill(process.pid, 'SIGUSR2');
      const deadline = Date.now() + 5_000;
      while (diagnostics.messages.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(diagnostics.messages.length, 1);
      assert.equal(diagnostics.messages[0]!.level, 'error');
      assert.match(diagnostics.messages[0]!.message, /SIGUSR2: snapshot not written: .*file/);
      await recorder.shutdown();
    } finally {
      diagnostics.restore();
    }
  });

  test(
    'a signal this platform lacks warns once and listens to nothing',
    {
      skip: 'SIGINFO' in constants.signals ? 'this platform has SIGINFO' : false,
    },
    async () => {
      const diagnostics = captureDiag(DiagLogLevel.INFO);
      try {
        const before = process.listenerCount('SIGINFO');
        const recorder = new FlightRecorderSpanProcessor({
          exporter: new TestExporter(),
          snapshotSignal: 'SIGINFO',
        });
        assert.equal(process.listenerCount('SIGINFO'), before);
        assert.equal(diagnostics.messages.length, 1);
        assert.match(diagnostics.messages[0]!.message, /SIGINFO does not exist on/);
        await recorder.shutdown();
      } finally {
        diagnostics.restore();
      }
    },
  );

  test('a window larger than maxTotalBytes: the newest spans that fit are written, the older counted as left out', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 200);
    const result = await writeSnapshotToDirectory(
      recorder,
      { directory: dir, maxTotalBytes: 20_000 },
      'signal',
    );
    assert.ok((await stat(result.path)).size <= 20_000);
    const spans = spansOf(JSON.parse(await readFile(result.path, 'utf8')));
    assert.equal(spans.length, result.spans);
    assert.ok(result.left > 0 && result.spans > 0, `${result.spans} written, ${result.left} left`);
    assert.equal(result.spans + result.left, 600);
    // The newest: the last trace is whole, the first is not there.
    const names = spans.map((s) => s.name);
    assert.ok(names.includes('GET /item/199'));
    assert.ok(!names.includes('GET /item/0'));
    assert.equal(recorder.stats().bufferedSpans, 600, 'the window is left as it was');
    await recorder.shutdown();
  });

  test('the copy of the window it reads is bounded by maxTotalBytes, whatever maxBytes, and what it leaves out is counted', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 2);
    let asked: number | undefined;
    const source: SnapshotSource = {
      _windowSpans: () => recorder._windowSpans(),
      _windowView: (maxBytes) => {
        asked = maxBytes;
        return { ...recorder._windowView(maxBytes), omitted: 1234 };
      },
    };
    const result = await writeSnapshotToDirectory(
      source,
      { directory: tempDir(), maxTotalBytes: 5_000_000 },
      'signal',
    );
    // No span's JSON is smaller than its protobuf: what could not fit is not copied.
    assert.ok(asked !== undefined && asked <= 5_000_000 && asked > 4_999_900, String(asked));
    assert.equal(result.spans, 6);
    assert.equal(result.left, 1234);
    await recorder.shutdown();
  });

  test('a signal snapshot that left spans out says how many, and why', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 200);
    const diagnostics = captureDiag(DiagLogLevel.INFO);
    const remove = installSnapshotSignal(recorder, 'SIGUSR2', {
      directory: dir,
      maxTotalBytes: 20_000,
    });
    try {
      process.kill(process.pid, 'SIGUSR2');
      await until(() => diagnostics.messages.length > 0, 5_000);
      const [message] = diagnostics.messages;
      assert.equal(message!.level, 'warn');
      assert.match(
        message!.message,
        /SIGUSR2: snapshot of \d+ spans written to .*signal.*\(the oldest \d+ spans left out: .*maxTotalBytes \(20000\)/,
      );
      assert.equal((await readdir(dir)).filter((n) => n.endsWith('.json')).length, 1);
    } finally {
      remove();
      diagnostics.restore();
      await recorder.shutdown();
    }
  });

  test('a signal while shutdown waits for an export is ignored, not fatal; the listener goes once shutdown has settled', async () => {
    const diagnostics = captureDiag();
    try {
      const before = process.listenerCount('SIGUSR2');
      const dir = tempDir();
      const { exporter, shutdown } = await shuttingDownWhileExporting({
        snapshotSignal: 'SIGUSR2',
        snapshotDir: dir,
      });
      // Still listening: Node's default action would end the process, and
      // the export in flight with it.
      assert.equal(process.listenerCount('SIGUSR2'), before + 1);
      process.kill(process.pid, 'SIGUSR2');
      await until(() => diagnostics.messages.length > 0);
      assert.deepEqual(diagnostics.messages, [
        {
          level: 'warn',
          message: 'otel-flight-recorder: SIGUSR2 ignored: the recorder is shutting down',
        },
      ]);
      await shutdown;
      assert.equal(exporter.inFlight, 0, 'the export in flight was waited for');
      assert.equal(process.listenerCount('SIGUSR2'), before);
      assert.deepEqual(await readdir(dir), [], 'no empty snapshot written');
    } finally {
      diagnostics.restore();
    }
  });

  test('with no diag logger, how a signal snapshot went is told on stderr', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({ snapshotSignal: 'SIGUSR2', snapshotDir: dir });
    recordTraces(tracer, 1);
    const stderr = captureStderr();
    try {
      process.kill(process.pid, 'SIGUSR2');
      await until(() => stderr.text().includes('\n'));
    } finally {
      stderr.restore();
    }
    const [name] = await readdir(dir);
    assert.equal(
      stderr.text(),
      `otel-flight-recorder: SIGUSR2: snapshot of 3 spans written to ${join(dir, name!)}\n`,
    );
    // Empty after a window flush took it: the line says why.
    await recorder.snapshot('manual');
    const empty = captureStderr();
    try {
      process.kill(process.pid, 'SIGUSR2');
      await until(() => empty.text().includes('\n'));
    } finally {
      empty.restore();
    }
    assert.match(
      empty.text(),
      /SIGUSR2: snapshot of 0 spans written to .* \(the window is empty: flushed spans leave it\)\n$/,
    );
    await recorder.shutdown();
  });

  test('the listener is added only when asked and removed on shutdown', async () => {
    const before = process.listenerCount('SIGUSR2');
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new TestExporter(),
      snapshotSignal: 'SIGUSR2',
    });
    assert.equal(process.listenerCount('SIGUSR2'), before + 1);
    await recorder.shutdown();
    await recorder.shutdown();
    assert.equal(process.listenerCount('SIGUSR2'), before);
    const disabled = new FlightRecorderSpanProcessor({ disabled: true, snapshotSignal: 'SIGUSR2' });
    assert.equal(
      process.listenerCount('SIGUSR2'),
      before,
      'a disabled recorder listens to nothing',
    );
    await disabled.shutdown();
  });
});

describe('snapshot options', () => {
  test('defaults: no signal, the default directory, no crash dump', () => {
    const o = resolveOptions({}, {}, assert.fail);
    assert.equal(o.snapshotSignal, undefined);
    assert.equal(o.snapshotDir, 'flight-recorder-snapshots');
    assert.equal(o.crashDump, false);
  });

  test('the environment sets them, and a signal name may be given loosely', () => {
    const o = resolveOptions(
      {},
      {
        FLIGHT_RECORDER_SNAPSHOT_SIGNAL: ' usr2 ',
        FLIGHT_RECORDER_SNAPSHOT_DIR: '/var/tmp/fr',
        FLIGHT_RECORDER_CRASH_DUMP: 'true',
      },
      assert.fail,
    );
    assert.equal(o.snapshotSignal, 'SIGUSR2');
    assert.equal(o.snapshotDir, '/var/tmp/fr');
    assert.equal(o.crashDump, true);
    assert.equal(
      resolveOptions(
        { snapshotSignal: 'SIGHUP' },
        { FLIGHT_RECORDER_SNAPSHOT_SIGNAL: 'SIGUSR2' },
        assert.fail,
      ).snapshotSignal,
      'SIGHUP',
      'code wins',
    );
  });

  const badCode: [string, unknown, RegExp][] = [
    [
      'snapshotSignal',
      'SIGUSR1',
      /`snapshotSignal`.*other than SIGUSR1, which Node's debugger uses.*"SIGUSR1"/,
    ],
    ['snapshotSignal', 'SIGTERM', /`snapshotSignal`.*safe to listen for.*"SIGTERM"/],
    [
      'snapshotSignal',
      'SIGNOPE',
      /`snapshotSignal`.*safe to listen for \(one of SIGUSR2, .*"SIGNOPE"/,
    ],
    ['snapshotSignal', 'usr2', /`snapshotSignal`.*"usr2"/],
    ['snapshotDir', '', /`snapshotDir` to be a path that is not blank, got ""/],
    ['crashDump', 1, /`crashDump` to be a boolean, got 1/],
  ];
  test("a bad signal's message lists only the signals this platform has", () => {
    const here = ['SIGUSR2', 'SIGHUP', 'SIGQUIT', 'SIGINFO', 'SIGPWR'].filter(
      (signal) => signal in constants.signals,
    );
    assert.throws(
      () => new FlightRecorderSpanProcessor({ snapshotSignal: 'SIGNOPE' }),
      (error: Error) => error.message.includes(`(one of ${here.join(', ')}),`),
    );
  });

  for (const [option, value, message] of badCode) {
    test(`a bad ${option} of ${JSON.stringify(value)} in code throws a TypeError naming both`, () => {
      assert.throws(
        () => new FlightRecorderSpanProcessor({ exporter: new TestExporter(), [option]: value }),
        (error: unknown) => error instanceof TypeError && message.test(error.message),
      );
    });
  }
});

describe("the recorder's own snapshot files", () => {
  test('are not traced when the app instruments fs: signal snapshots and crash dumps add no spans', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({
      snapshotSignal: 'SIGUSR2',
      crashDump: true,
      snapshotDir: dir,
    });
    recordTraces(tracer, 1);
    // A stand-in for @opentelemetry/instrumentation-fs: a span around each
    // open, unless tracing is suppressed (the SDK's tracer then records none).
    const real = { open: fs.promises.open, openSync: fs.openSync };
    fs.promises.open = async function (this: unknown, ...args: Parameters<typeof real.open>) {
      const span = tracer.startSpan('fs open');
      try {
        return await real.open.apply(this, args);
      } finally {
        span.end();
      }
    };
    fs.openSync = function (this: unknown, ...args: Parameters<typeof real.openSync>) {
      const span = tracer.startSpan('fs openSync');
      try {
        return real.openSync.apply(this, args);
      } finally {
        span.end();
      }
    } as typeof fs.openSync;
    syncBuiltinESMExports();
    try {
      // The stand-in does record spans where the app does I/O itself.
      await (await fsp.open(join(dir, 'app-file'), 'w')).close();
      assert.deepEqual(
        names(recorder._windowSpans()).filter((n) => n.startsWith('fs ')),
        ['fs open'],
      );
      process.kill(process.pid, 'SIGUSR2');
      await waitForFiles(dir, 1);
      const monitor = process.listeners('uncaughtExceptionMonitor').at(-1)!;
      const stderr = captureStderr();
      try {
        monitor(new Error('pretend'), 'uncaughtException');
      } finally {
        stderr.restore();
      }
      await waitForFiles(dir, 2);
    } finally {
      Object.assign(fs.promises, { open: real.open });
      Object.assign(fs, { openSync: real.openSync });
      syncBuiltinESMExports();
    }
    assert.deepEqual(
      names(recorder._windowSpans()).filter((n) => n.startsWith('fs ')),
      ['fs open'],
      "only the app's own open",
    );
    await recorder.shutdown();
  });
});

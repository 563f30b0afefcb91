import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  FileSpanExporter,
  type FileSpanExporterOptions,
  FlightRecorderSpanProcessor,
  type FlushInfo,
  SNAPSHOT_ID_ATTRIBUTE,
  type SnapshotFileWrite,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { markSpan } from '../src/marks.js';
import { listSnapshotFiles, parseSnapshotFileName } from '../src/snapshot/snapshot-files.js';
import { attributesOf, type OtlpSpan, spansOf } from './fixtures/otlp.js';
import { spanFactory } from './helpers/span-factory.js';
import { tempDir } from './helpers/temp-dir.js';
import { captureDiag, fail, makeTracing, settle, until } from './helpers/tracing.js';

let diagCapture: ReturnType<typeof captureDiag> | undefined;
afterEach(() => {
  diagCapture?.restore();
  diagCapture = undefined;
});

const T0 = 1_800_000_000_000;

const mark = (spans: ReadableSpan[], snapshotId: string, trigger = 'latency') =>
  spans.map((s) => markSpan(s, { snapshotId, trigger }));

function exportAsync(exporter: FileSpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

interface FileOf {
  name: string;
  spans: OtlpSpan[];
}

async function readFiles(dir: string): Promise<FileOf[]> {
  const files = await listSnapshotFiles(dir);
  return files.map((f) => ({
    name: f.name,
    spans: spansOf(JSON.parse(fs.readFileSync(f.path, 'utf8'))),
  }));
}

function makeExporter(options: FileSpanExporterOptions = {}) {
  const writes: SnapshotFileWrite[] = [];
  const directory = options.directory ?? tempDir();
  const exporter = new FileSpanExporter({
    writeDelayMs: 60_000,
    onWrite: (w) => writes.push(w),
    ...options,
    directory,
  });
  return { exporter, writes, directory };
}

/** Makes every `FileHandle.sync()` (fsync) hang until the test ends. */
async function hangFsync(t: { after(fn: () => void): void }): Promise<void> {
  const probe = await fs.promises.open(path.join(tempDir(), 'probe'), 'w');
  const FileHandle = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const sync = FileHandle.sync;
  FileHandle.sync = () => new Promise(() => {});
  t.after(() => {
    FileHandle.sync = sync;
  });
}

describe('FileSpanExporter', () => {
  describe('with the recorder', () => {
    test('a flush handed over in several batches lands in one file whose body is an ExportTraceServiceRequest with the marks', async () => {
      const { exporter, writes, directory } = makeExporter();
      const flushes: FlushInfo[] = [];
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        maxExportBatchSize: 5,
        latencyThresholdMs: 100,
        onFlush: (f) => flushes.push(f),
      });
      const t = makeTracing(recorder, undefined, 'checkout');
      for (let i = 0; i < 3; i++) {
        const root = t.start(`GET /fast/${i}`, T0 + i * 10);
        t.start('task', T0 + i * 10 + 1, root).end(T0 + i * 10 + 5);
        root.end(T0 + i * 10 + 6);
      }
      const slow = t.start('GET /slow', T0 + 100);
      for (let i = 0; i < 12; i++) t.start(`shard ${i}`, T0 + 101, slow).end(T0 + 150 + i);
      slow.end(T0 + 400);
      assert.equal(flushes.length, 1);
      await recorder.forceFlush();

      const files = await readFiles(directory);
      assert.equal(files.length, 1, 'one file for the whole flush');
      const [file] = files;
      assert.equal(file!.spans.length, 19);
      assert.equal(flushes[0]!.spans, 19);
      const meta = parseSnapshotFileName(file!.name)!;
      assert.equal(meta.snapshotId, flushes[0]!.snapshotId);
      assert.equal(meta.trigger, 'latency');
      for (const span of file!.spans) {
        const attributes = attributesOf(span);
        assert.equal(attributes[SNAPSHOT_ID_ATTRIBUTE], flushes[0]!.snapshotId);
        assert.equal(attributes[TRIGGER_ATTRIBUTE], 'latency');
      }
      assert.equal(new Set(file!.spans.map((s) => s.traceId)).size, 4);
      assert.deepEqual(
        writes.map((w) => [w.spans, w.snapshotId, w.trigger, w.error]),
        [[19, flushes[0]!.snapshotId, 'latency', undefined]],
      );
      assert.equal(writes[0]!.bytes, fs.statSync(writes[0]!.path!).size);
      assert.equal(recorder.stats().spansExported, 19);
      await recorder.shutdown();
    });

    test('two flushes in a row give two files, in flush order', async () => {
      const { exporter, directory } = makeExporter();
      const flushes: FlushInfo[] = [];
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        maxExportBatchSize: 2,
        latencyThresholdMs: 100,
        flushScope: 'trace',
        onFlush: (f) => flushes.push(f),
      });
      const t = makeTracing(recorder);
      for (const [name, start] of [
        ['GET /a', T0],
        ['GET /b', T0 + 300],
      ] as const) {
        const root = t.start(name, start);
        t.start(`${name} task 1`, start, root).end(start + 10);
        t.start(`${name} task 2`, start, root).end(start + 20);
        root.end(start + 200);
      }
      assert.equal(flushes.length, 2);
      await recorder.forceFlush();
      const files = await readFiles(directory);
      assert.deepEqual(
        files.map((f) => [parseSnapshotFileName(f.name)!.snapshotId, f.spans.length]),
        flushes.map((f) => [f.snapshotId, 3]),
      );
      await recorder.shutdown();
    });

    test('a late child within writeDelayMs joins its flush; a later one gets its own file', async () => {
      const { exporter, directory } = makeExporter();
      const flushes: FlushInfo[] = [];
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        latencyThresholdMs: 100,
        onFlush: (f) => flushes.push(f),
      });
      const t = makeTracing(recorder);
      const root = t.start('GET /a', T0);
      t.start('a1', T0, root).end(T0 + 10);
      const late1 = t.start('late 1', T0, root);
      const late2 = t.start('late 2', T0, root);
      root.end(T0 + 200);
      await until(() => recorder.stats().spansExported === 2);
      late1.end(T0 + 250);
      await until(() => recorder.stats().spansExported === 3);
      await recorder.forceFlush();
      late2.end(T0 + 300);
      await recorder.forceFlush();
      const files = await readFiles(directory);
      assert.deepEqual(
        files.map((f) => [
          parseSnapshotFileName(f.name)!.snapshotId,
          f.spans.map((s) => s.name).sort(),
        ]),
        [
          [flushes[0]!.snapshotId, ['GET /a', 'a1', 'late 1']],
          [flushes[0]!.snapshotId, ['late 2']],
        ],
      );
      await recorder.shutdown();
    });

    test('an unwritable directory fails exports once, and the app keeps recording', async () => {
      diagCapture = captureDiag();
      const file = path.join(tempDir(), 'plain-file');
      fs.writeFileSync(file, 'x');
      const directory = path.join(file, 'snapshots');
      const { exporter } = makeExporter({ directory });
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        latencyThresholdMs: 100,
        minFlushIntervalMs: 0,
      });
      const t = makeTracing(recorder);
      for (let i = 0; i < 3; i++) {
        const root = t.start('GET /slow', T0 + i * 1000);
        t.start('task', T0 + i * 1000, root).end(T0 + i * 1000 + 10);
        root.end(T0 + i * 1000 + 500);
        await recorder.forceFlush();
      }
      const stats = recorder.stats();
      assert.equal(stats.flushes, 3);
      // One failed call a flush, or more: on a loaded machine the export
      // queue times its batches and may send a flush's 2 spans in 2 calls.
      assert.ok(stats.exportFailures >= 3 && stats.exportFailures <= 6, `${stats.exportFailures}`);
      assert.equal(stats.spansDropped, 6);
      assert.equal(stats.spansExported, 0);
      const fromExporter = diagCapture.messages.filter((m) =>
        m.message.includes('cannot write snapshot files to directory'),
      );
      assert.equal(fromExporter.length, 2, 'one line from the exporter, one from the recorder');
      assert.ok(fromExporter.every((m) => m.message.includes(JSON.stringify(directory))));
      await recorder.shutdown();
    });
  });

  describe('on a crash', () => {
    /** What Node does on an uncaught exception, before the process dies. */
    const crash = (): void => {
      // (Cast: @types/node types emit() for its own event names only.)
      (process.emit as (event: string, ...args: unknown[]) => boolean)(
        'uncaughtExceptionMonitor',
        new Error('crash'),
        'uncaughtException',
      );
    };
    const monitors = (): number => process.listenerCount('uncaughtExceptionMonitor');
    /** A recorder with the crash dump on, exporting each trace flush to a FileSpanExporter. */
    const withCrashDump = (options: { maxFileBytes?: number }) => {
      const directory = tempDir();
      const dumps = tempDir();
      const { exporter } = makeExporter({ directory, writeDelayMs: 500, ...options });
      const recorder = new FlightRecorderSpanProcessor({
        exporter,
        crashDump: true,
        snapshotDir: dumps,
        exportDelayMs: 0,
        flushScope: 'trace',
      });
      return { directory, dumps, recorder };
    };
    /** The names of the spans in the snapshot files of `dir`. */
    const spanNamesIn = (dir: string): string[] =>
      fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.json'))
        .flatMap((n) =>
          spansOf(JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8'))).map((s) => s.name),
        );

    test('a flush it answered for and still holds is written at once, before the process dies', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter();
      const before = monitors();
      assert.equal(
        (await exportAsync(exporter, mark(make(3), 'held'))).code,
        ExportResultCode.SUCCESS,
      );
      assert.equal(monitors(), before + 1, 'it listens while it holds spans');
      crash();
      // Synchronously: nothing asynchronous runs once the process is dying.
      const names = fs.readdirSync(directory).filter((n) => n.endsWith('.json'));
      assert.equal(names.length, 1);
      const spans = spansOf(JSON.parse(fs.readFileSync(path.join(directory, names[0]!), 'utf8')));
      assert.equal(spans.length, 3);
      assert.equal(parseSnapshotFileName(names[0]!)!.snapshotId, 'held');
      assert.equal(writes.length, 1);
      assert.equal(writes[0]!.spans, 3);
      assert.equal(monitors(), before, 'and stops listening once it holds nothing');
      // The process survived (an uncaughtException handler): nothing is written twice.
      await exporter.shutdown();
      assert.equal((await listSnapshotFiles(directory)).length, 1);
    });

    test('an app that survives its uncaught exceptions gets one synchronous write a minute, not one each', async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter();
      for (let i = 0; i < 5; i++) {
        await exportAsync(exporter, mark(make(2), 'survived'));
        crash();
      }
      // The first crash wrote what was held at once; the later ones left the
      // rest to gather and go out as usual, in one file.
      assert.equal(fs.readdirSync(directory).filter((n) => n.endsWith('.json')).length, 1);
      await exporter.shutdown();
      const files = await readFiles(directory);
      assert.deepEqual(
        files.map((f) => f.spans.length),
        [2, 8],
      );
    });

    test('a crash while the next export is taken still writes the flush it completed, answered for already', async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter({ writeDelayMs: 60_000 });
      const held = exporter as unknown as { _pending?: { snapshotId?: string } };
      await exportAsync(exporter, mark(make(3), 'first'));
      exporter.export(mark(make(1), 'second'), () => {});
      // 'first' leaves the held file; the directory check for 'second' awaits.
      while (held._pending?.snapshotId === 'first') {
        await new Promise((resolve) => setImmediate(resolve));
      }
      crash();
      const ids = fs
        .readdirSync(directory)
        .filter((n) => n.endsWith('.json'))
        .map((n) => parseSnapshotFileName(n)!.snapshotId);
      assert.ok(ids.includes('first'), JSON.stringify(ids));
      await exporter.shutdown();
    });

    test('a file whose asynchronous write has not finished is written at once, under its name', async (t) => {
      // fsync never returns: the write is under way when the process crashes.
      await hangFsync(t);
      const make = spanFactory();
      const { exporter, directory } = makeExporter();
      await exportAsync(exporter, mark(make(2), 'first'));
      // A span of another flush sends the first to disk, where it hangs. The
      // second export is answered first: its spans, and the first's, are the
      // exporter's now, no longer the recorder's (a crash dump has them not).
      const second = await exportAsync(exporter, mark(make(1), 'second'));
      assert.equal(second.code, ExportResultCode.SUCCESS);
      await until(() => fs.readdirSync(directory).some((n) => n.endsWith('.tmp')));
      crash();
      const files = fs
        .readdirSync(directory)
        .filter((n) => n.endsWith('.json'))
        .map((n) => parseSnapshotFileName(n)!.snapshotId);
      assert.deepEqual(files, ['first', 'second']);
    });

    test('with the crash dump: a trace flushed before a crash is in its file or in the dump', async () => {
      const { directory, dumps, recorder } = withCrashDump({});
      const t = makeTracing(recorder, undefined, 'checkout');
      const root = fail(t.start('GET /checkout', T0));
      t.start('charge card', T0 + 1, root).end(T0 + 5);
      root.end(T0 + 10);
      // The exporter has answered: the trace left the recorder's export queue.
      await until(() => recorder.stats().spansExported === 2);
      crash();
      assert.deepEqual(
        [...spanNamesIn(directory), ...spanNamesIn(dumps)]
          .filter((n) => n !== 'uncaught exception')
          .sort(),
        ['GET /checkout', 'charge card'],
      );
      await recorder.shutdown();
    });

    test('with the crash dump: a crash while a flush of several files is written puts no span in both', async (t) => {
      await hangFsync(t);
      const { directory, dumps, recorder } = withCrashDump({ maxFileBytes: 3000 });
      const t1 = makeTracing(recorder, undefined, 'checkout');
      const root = fail(t1.start('GET /checkout', T0));
      for (let i = 0; i < 30; i++) t1.start(`step ${i}`, T0 + 1, root).end(T0 + 5);
      root.end(T0 + 10);
      // The flush's first file is being written (its fsync hangs).
      await until(() => fs.readdirSync(directory).some((n) => n.endsWith('.tmp')));
      crash();
      const all = [...spanNamesIn(directory), ...spanNamesIn(dumps)].filter(
        (n) => n !== 'uncaught exception',
      );
      assert.equal(all.length, 31, JSON.stringify(all));
      assert.equal(new Set(all).size, 31, 'no span written twice');
      // Not awaited: the exporter's writes hang on fsync for good.
      void recorder.shutdown();
    });
  });

  describe('on its own', () => {
    test('spans without a snapshot id go one file per export call', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter();
      assert.equal((await exportAsync(exporter, make(3))).code, ExportResultCode.SUCCESS);
      assert.equal((await exportAsync(exporter, make(2))).code, ExportResultCode.SUCCESS);
      const files = await readFiles(directory);
      assert.deepEqual(
        files.map((f) => f.spans.length),
        [3, 2],
      );
      for (const f of files) assert.equal(parseSnapshotFileName(f.name)!.trigger, 'export');
      assert.deepEqual(
        writes.map((w) => w.snapshotId),
        [undefined, undefined],
      );
    });

    test('a batch that mixes snapshots is split by snapshot id', async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter();
      const batch = [...mark(make(2), 'aaa'), ...mark(make(3), 'bbb', 'error'), ...make(1)];
      await exportAsync(exporter, batch);
      await exportAsync(exporter, mark(make(1), 'bbb', 'error'));
      await exporter.forceFlush();
      const files = await readFiles(directory);
      const summary = files
        .map((f) => {
          const meta = parseSnapshotFileName(f.name)!;
          return `${meta.trigger}:${meta.trigger === 'export' ? '-' : meta.snapshotId}:${f.spans.length}`;
        })
        .sort();
      assert.deepEqual(summary, ['error:bbb:4', 'export:-:1', 'latency:aaa:2']);
    });

    test("the held flush is written after writeDelayMs without more of it, on an unref'd timer", async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter({ writeDelayMs: 20 });
      await exportAsync(exporter, mark(make(2), 'idle'));
      const timer = (exporter as unknown as { _timer?: NodeJS.Timeout })._timer;
      assert.ok(timer !== undefined);
      assert.equal(timer.hasRef(), false);
      assert.deepEqual(await listSnapshotFiles(directory), []);
      await until(async () => (await listSnapshotFiles(directory)).length === 1);
    });

    test('memory is bounded: a flush larger than maxFileBytes continues in a further file', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter({ maxFileBytes: 3000 });
      for (let i = 0; i < 6; i++) await exportAsync(exporter, mark(make(2), 'big'));
      await exporter.forceFlush();
      const files = await readFiles(directory);
      assert.ok(files.length > 1, `${files.length} files`);
      assert.equal(
        files.reduce((n, f) => n + f.spans.length, 0),
        12,
      );
      assert.ok(files.every((f) => parseSnapshotFileName(f.name)!.snapshotId === 'big'));
      assert.ok(writes.every((w) => w.bytes <= 3000));
      assert.equal(new Set(files.map((f) => f.name)).size, files.length);
    });

    test('one export larger than maxFileBytes is split across files, each within it', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter({ maxFileBytes: 3000 });
      const spans = mark(make(40), 'one');
      assert.equal((await exportAsync(exporter, spans)).code, ExportResultCode.SUCCESS);
      await exporter.forceFlush();
      const files = await readFiles(directory);
      assert.ok(files.length >= 8, `${files.length} files`);
      assert.ok(
        writes.every((w) => w.error === undefined && w.bytes <= 3000),
        writes.map((w) => w.bytes).join(' '),
      );
      for (const w of writes) assert.equal(w.bytes, fs.statSync(w.path!).size);
      // Every span once, in order, all under the flush's snapshot id.
      assert.deepEqual(
        files.flatMap((f) => f.spans.map((s) => s.name)),
        spans.map((s) => s.name),
      );
      assert.ok(files.every((f) => parseSnapshotFileName(f.name)!.snapshotId === 'one'));
    });

    test('a span larger than maxFileBytes goes alone; spans without a snapshot id split too', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter({ maxFileBytes: 100 });
      await exportAsync(exporter, [...mark(make(3), 'tiny'), ...make(2)]);
      await exporter.forceFlush();
      // Spans without a snapshot id are on disk before the export is
      // answered; a flush's completed files are written after the answer,
      // but named in the order they were made, which rotation goes by.
      assert.deepEqual(
        writes.map((w) => [w.snapshotId, w.spans, w.error]),
        [
          [undefined, 1, undefined],
          [undefined, 1, undefined],
          ['tiny', 1, undefined],
          ['tiny', 1, undefined],
          ['tiny', 1, undefined],
        ],
      );
      const byName = (await listSnapshotFiles(directory)).map((f) => {
        const parsed = parseSnapshotFileName(f.name)!;
        return parsed.trigger === 'export' ? 'export' : parsed.snapshotId;
      });
      assert.deepEqual(byName, ['tiny', 'tiny', 'export', 'export', 'tiny']);
      assert.ok(writes.every((w) => w.bytes > 100));
      assert.equal((await readFiles(directory)).length, 5);
    });

    test('maxFileBytes equal to maxTotalBytes: the files rotate, the newest spans kept, none refused', async () => {
      const make = spanFactory();
      const { exporter, directory, writes } = makeExporter({
        maxFileBytes: 3000,
        maxTotalBytes: 3000,
      });
      const spans = mark(make(40), 'rotate');
      assert.equal((await exportAsync(exporter, spans)).code, ExportResultCode.SUCCESS);
      await exporter.forceFlush();
      assert.ok(writes.length > 1);
      assert.ok(writes.every((w) => w.error === undefined));
      const files = await readFiles(directory);
      assert.equal(files.length, 1);
      assert.equal(files[0]!.spans.at(-1)!.name, spans.at(-1)!.name);
    });

    test('the directory stays within maxFiles, the oldest files removed first', async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter({ maxFiles: 2 });
      for (const id of ['s1', 's2', 's3', 's4']) await exportAsync(exporter, mark(make(1), id));
      await exporter.forceFlush();
      const left = (await listSnapshotFiles(directory)).map(
        (f) => parseSnapshotFileName(f.name)!.snapshotId,
      );
      assert.deepEqual(left, ['s3', 's4']);
    });

    test('an unwritable directory: a clear error in the result and once through diag, callback always fires', async () => {
      diagCapture = captureDiag();
      const file = path.join(tempDir(), 'plain-file');
      fs.writeFileSync(file, 'x');
      const directory = path.join(file, 'out');
      const make = spanFactory();
      const { exporter, writes } = makeExporter({ directory });
      const results = [
        await exportAsync(exporter, mark(make(1), 'x1')),
        await exportAsync(exporter, mark(make(1), 'x2')),
        await exportAsync(exporter, make(1)),
      ];
      for (const r of results) {
        assert.equal(r.code, ExportResultCode.FAILED);
        assert.match(r.error!.message, /cannot write snapshot files to directory/);
        assert.ok(r.error!.message.includes(JSON.stringify(directory)));
      }
      assert.equal(diagCapture.messages.filter((m) => m.level === 'error').length, 1);
      await exporter.forceFlush();
      await exporter.shutdown();
      assert.equal(writes.length, 1, 'the no-snapshot file reports its failure through onWrite');
      assert.equal(writes[0]!.path, undefined);
      assert.ok(writes[0]!.error);
    });

    test('a result callback that throws harms nothing', async () => {
      diagCapture = captureDiag();
      const make = spanFactory();
      const { exporter } = makeExporter();
      exporter.export(make(1), () => {
        throw new Error('callback bug');
      });
      await exporter.forceFlush();
      await settle();
      assert.ok(diagCapture.messages.some((m) => m.message.includes('callback bug')));
    });

    test('shutdown writes what is held, is idempotent, and later exports fail', async () => {
      const make = spanFactory();
      const { exporter, directory } = makeExporter();
      await exportAsync(exporter, mark(make(3), 'held'));
      const first = exporter.shutdown();
      assert.equal(exporter.shutdown(), first);
      await first;
      assert.equal((await readFiles(directory))[0]!.spans.length, 3);
      const late = await exportAsync(exporter, mark(make(1), 'held'));
      assert.equal(late.code, ExportResultCode.FAILED);
      assert.match(late.error!.message, /shut down/);
    });

    test('the directory defaults to FLIGHT_RECORDER_SNAPSHOT_DIR, then flight-recorder-snapshots', () => {
      const saved = process.env.FLIGHT_RECORDER_SNAPSHOT_DIR;
      try {
        delete process.env.FLIGHT_RECORDER_SNAPSHOT_DIR;
        assert.equal(new FileSpanExporter().directory, 'flight-recorder-snapshots');
        process.env.FLIGHT_RECORDER_SNAPSHOT_DIR = '/tmp/elsewhere';
        assert.equal(new FileSpanExporter().directory, '/tmp/elsewhere');
        assert.equal(new FileSpanExporter({ directory: 'mine' }).directory, 'mine');
      } finally {
        if (saved === undefined) delete process.env.FLIGHT_RECORDER_SNAPSHOT_DIR;
        else process.env.FLIGHT_RECORDER_SNAPSHOT_DIR = saved;
      }
    });

    test('bad options throw a TypeError naming the option and value', () => {
      const bad: [FileSpanExporterOptions, RegExp][] = [
        [{ directory: '' }, /`directory`.*""/],
        [{ maxFiles: 0 }, /`maxFiles` to be an integer >= 1 and <= 2147483647, got 0/],
        [{ maxTotalBytes: -1 }, /`maxTotalBytes`.*-1/],
        [{ maxTotalBytes: 2.5 }, /`maxTotalBytes`.*2\.5/],
        [
          { maxFileBytes: 2000, maxTotalBytes: 1000 },
          /`maxFileBytes` to be at most maxTotalBytes \(1000\), got 2000/,
        ],
        // One file's bytes are held in one buffer.
        [{ maxFileBytes: 2 ** 30 + 1 }, /`maxFileBytes`.*<= 1073741824, got 1073741825/],
        [{ writeDelayMs: Number.NaN }, /`writeDelayMs`.*NaN/],
        [{ writeDelayMs: -1 }, /`writeDelayMs`.*-1/],
        // setTimeout would turn 2^31 ms into 1 ms.
        [{ writeDelayMs: 2 ** 31 }, /`writeDelayMs`.*<= 2147483647, got 2147483648/],
        [{ onWrite: 'x' as unknown as () => void }, /`onWrite` to be a function, got "x"/],
      ];
      for (const [options, message] of bad) {
        assert.throws(
          () => new FileSpanExporter(options),
          (e: Error) => e instanceof TypeError && message.test(e.message),
        );
      }
    });
  });

  test('a disk that never answers: at most 8 exports wait for it, later ones fail at once, so no batch piles up', async (t) => {
    // fsync never returns, as on a hung network mount.
    await hangFsync(t);
    const { exporter } = makeExporter({ writeDelayMs: 0 });
    const make = spanFactory();
    const results: (ExportResult | undefined)[] = [];
    for (let i = 0; i < 12; i++) {
      exporter.export(mark(make(3), `snap${i}`), (result) => (results[i] = result));
    }
    await until(() => results.filter((r) => r !== undefined).length >= 4, 2_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The first answered once its directory was checked, the second once it
    // had completed the first's file (whose write then hung); 6 more wait
    // behind that write; the other 4, past 8 waiting, failed saying why.
    assert.deepEqual(
      Array.from(results, (r) => r?.code),
      [
        ExportResultCode.SUCCESS,
        ExportResultCode.SUCCESS,
        ...new Array(6).fill(undefined),
        ...new Array(4).fill(ExportResultCode.FAILED),
      ],
    );
    assert.match(results[8]!.error!.message, /8 exports are still waiting for the disk/);
  });
});

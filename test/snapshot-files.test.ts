import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import {
  DEFAULT_SNAPSHOT_DIR,
  isSnapshotFileName,
  listSnapshotFiles,
  parseSnapshotFileName,
  snapshotFileName,
  writeSnapshotFile,
  writeSnapshotFileFrom,
  writeSnapshotFileSync,
} from '../src/snapshot/snapshot-files.js';
import { tempDir } from './helpers/temp-dir.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const T0 = Date.UTC(2026, 10, 22, 4, 15, 0, 123);

describe('snapshotFileName', () => {
  test('names a snapshot by UTC time, trigger and id', () => {
    assert.equal(
      snapshotFileName({ time: T0, trigger: 'latency', snapshotId: '9f2c4e1a7b3d5f60' }),
      'flight-recorder-2026-11-22T04-15-00.123Z-latency-9f2c4e1a7b3d5f60.json',
    );
    assert.equal(DEFAULT_SNAPSHOT_DIR, 'flight-recorder-snapshots');
  });

  test('sanitizes the trigger and the id so the name is a safe file name', () => {
    const name = snapshotFileName({ time: T0, trigger: '../evil name/é', snapshotId: 'a-b/c' });
    assert.equal(name, 'flight-recorder-2026-11-22T04-15-00.123Z-___evil_name__-a_b_c.json');
    assert.ok(isSnapshotFileName(name));
  });

  test('fills a missing trigger and id, with a random id', () => {
    const a = snapshotFileName({ time: T0 });
    const b = snapshotFileName({ time: T0 });
    assert.match(a, /^flight-recorder-2026-11-22T04-15-00\.123Z-snapshot-[0-9a-f]{16}\.json$/);
    assert.notEqual(a, b);
  });

  test('sorts by time', () => {
    const names = [T0 + 86_400_000, T0, T0 + 1, T0 + 3_600_000].map((time) =>
      snapshotFileName({ time, trigger: 'error', snapshotId: 'x' }),
    );
    const times = [...names].sort().map((n) => parseSnapshotFileName(n)!.time);
    assert.deepEqual(times, [T0, T0 + 1, T0 + 3_600_000, T0 + 86_400_000]);
  });

  test('parses back time, trigger (even with dashes) and id', () => {
    const name = snapshotFileName({ time: T0, trigger: 'slow-db', snapshotId: 'abc123' });
    assert.deepEqual(parseSnapshotFileName(name), {
      time: T0,
      trigger: 'slow-db',
      snapshotId: 'abc123',
    });
    assert.equal(parseSnapshotFileName('notes.json'), undefined);
  });

  test('rejects a time that is not epoch milliseconds', () => {
    assert.throws(() => snapshotFileName({ time: Number.NaN }), /Expected `time`.*NaN/);
  });
});

describe('writeSnapshotFile', () => {
  test('creates the directory and writes the chunks in order', async () => {
    const dir = path.join(tempDir(), 'a', 'b');
    const name = snapshotFileName({ time: T0, trigger: 'manual', snapshotId: '1' });
    const file = await writeSnapshotFile({ directory: dir }, name, [bytes('{"a":'), bytes('1}')]);
    assert.equal(file, path.join(dir, name));
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { a: 1 });
  });

  test('is atomic: a reader sees no file or the whole file, and no temp file is left', async () => {
    const dir = tempDir();
    const name = snapshotFileName({ time: T0, trigger: 'manual', snapshotId: 'big' });
    const body = bytes(`[${'"0123456789abcdef",'.repeat(200_000)}0]`);
    const seen: number[] = [];
    let writing = true;
    const watcher = (async () => {
      while (writing) {
        try {
          seen.push(fs.statSync(path.join(dir, name)).size);
        } catch {}
        await new Promise((r) => setImmediate(r));
      }
    })();
    await writeSnapshotFile({ directory: dir }, name, body);
    writing = false;
    await watcher;
    for (const size of seen) assert.equal(size, body.byteLength);
    assert.deepEqual(fs.readdirSync(dir), [name]);
  });

  test('prunes the oldest files over maxFiles, by the time in their names', async () => {
    const dir = tempDir();
    // Written out of time order: pruning follows the names, not the write order.
    for (const t of [5, 1, 4, 2, 3]) {
      const name = snapshotFileName({
        time: T0 + t * 1000,
        trigger: 'latency',
        snapshotId: `s${t}`,
      });
      await writeSnapshotFile({ directory: dir, maxFiles: 10 }, name, bytes('{}'));
    }
    fs.writeFileSync(path.join(dir, 'README.txt'), 'not ours');
    const newest = snapshotFileName({ time: T0 + 6000, trigger: 'error', snapshotId: 's6' });
    await writeSnapshotFile({ directory: dir, maxFiles: 3 }, newest, bytes('{}'));
    const left = (await listSnapshotFiles(dir)).map(
      (e) => parseSnapshotFileName(e.name)!.snapshotId,
    );
    assert.deepEqual(left, ['s4', 's5', 's6']);
    assert.ok(fs.existsSync(path.join(dir, 'README.txt')), 'other files are left alone');
  });

  test('an entry named like a snapshot that cannot be read (a symlink loop) does not stop pruning', async () => {
    const dir = tempDir();
    const loop = snapshotFileName({ time: T0, trigger: 'x', snapshotId: 'loop' });
    fs.symlinkSync(loop, path.join(dir, loop));
    for (let t = 1; t <= 6; t++) {
      const name = snapshotFileName({
        time: T0 + t * 1000,
        trigger: 'signal',
        snapshotId: `s${t}`,
      });
      await writeSnapshotFile({ directory: dir, maxFiles: 3 }, name, bytes('{}'));
    }
    const left = (await listSnapshotFiles(dir)).map(
      (e) => parseSnapshotFileName(e.name)!.snapshotId,
    );
    assert.deepEqual(left, ['s4', 's5', 's6']);
    // The synchronous path (crash dumps) too.
    const last = snapshotFileName({ time: T0 + 7000, trigger: 'crash', snapshotId: 's7' });
    writeSnapshotFileSync({ directory: dir, maxFiles: 3 }, last, bytes('{}'));
    const after = (await listSnapshotFiles(dir)).map(
      (e) => parseSnapshotFileName(e.name)!.snapshotId,
    );
    assert.deepEqual(after, ['s5', 's6', 's7']);
  });

  test('prunes the oldest files over maxTotalBytes and keeps the new one', async () => {
    const dir = tempDir();
    const opts = { directory: dir, maxTotalBytes: 250 };
    for (let t = 1; t <= 4; t++) {
      const name = snapshotFileName({ time: T0 + t, trigger: 'latency', snapshotId: `s${t}` });
      await writeSnapshotFile(opts, name, new Uint8Array(100));
    }
    const left = await listSnapshotFiles(dir);
    assert.deepEqual(
      left.map((e) => parseSnapshotFileName(e.name)!.snapshotId),
      ['s3', 's4'],
    );
    assert.ok(left.reduce((n, e) => n + e.size, 0) <= 250);
  });

  test('refuses a body larger than maxTotalBytes, naming the directory', async () => {
    const dir = tempDir();
    const name = snapshotFileName({ time: T0, trigger: 'latency', snapshotId: 'huge' });
    await assert.rejects(
      writeSnapshotFile({ directory: dir, maxTotalBytes: 10 }, name, new Uint8Array(11)),
      (e: Error) => e.message.includes('exceeds maxTotalBytes') && e.message.includes(dir),
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('rejects with an error naming the directory when it cannot be written', async () => {
    const file = path.join(tempDir(), 'plain-file');
    fs.writeFileSync(file, 'x');
    const dir = path.join(file, 'snapshots');
    const name = snapshotFileName({ time: T0, trigger: 'error', snapshotId: 'x' });
    await assert.rejects(writeSnapshotFile({ directory: dir }, name, bytes('{}')), (e: Error) => {
      assert.match(e.message, /cannot write snapshot files to directory/);
      assert.ok(e.message.includes(JSON.stringify(dir)), e.message);
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOTDIR');
      return true;
    });
  });

  test('rejects bad options and foreign names with a TypeError', async () => {
    const dir = tempDir();
    const name = snapshotFileName({ time: T0 });
    await assert.rejects(writeSnapshotFile({ directory: '' }, name, bytes('')), TypeError);
    await assert.rejects(
      writeSnapshotFile({ directory: '  ' }, name, bytes('')),
      /`directory` to be a path that is not blank, got " {2}"/,
    );
    await assert.rejects(
      writeSnapshotFile({ directory: dir, maxFiles: 0 }, name, bytes('')),
      /Expected `maxFiles` to be an integer >= 1, got 0/,
    );
    await assert.rejects(
      writeSnapshotFile({ directory: dir, maxTotalBytes: 1.5 }, name, bytes('')),
      /`maxTotalBytes`.*1\.5/,
    );
    await assert.rejects(writeSnapshotFile({ directory: dir }, '../x.json', bytes('')), /`name`/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('resolves a relative directory against the working directory', async () => {
    const cwd = process.cwd();
    const dir = tempDir();
    process.chdir(dir);
    try {
      const name = snapshotFileName({ time: T0, trigger: 'manual', snapshotId: 'rel' });
      const file = await writeSnapshotFile({ directory: DEFAULT_SNAPSHOT_DIR }, name, bytes('{}'));
      assert.equal(file, path.join(fs.realpathSync(dir), DEFAULT_SNAPSHOT_DIR, name));
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('who may read snapshot files', () => {
  test('their owner alone: files 0600, and a directory made for them 0700', async () => {
    const dir = path.join(tempDir(), 'made', 'here');
    const a = await writeSnapshotFile(
      { directory: dir },
      snapshotFileName({ time: T0 }),
      bytes('{}'),
    );
    const b = writeSnapshotFileSync(
      { directory: dir },
      snapshotFileName({ time: T0 + 1, trigger: 'crash' }),
      bytes('{}'),
    );
    for (const file of [a, b]) assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.dirname(dir)).mode & 0o777, 0o700);
  });
});

describe('writeSnapshotFileSync', () => {
  test('writes and prunes like the async version', () => {
    const dir = path.join(tempDir(), 'crash');
    let last = '';
    for (let t = 1; t <= 3; t++) {
      const name = snapshotFileName({ time: T0 + t, trigger: 'crash', snapshotId: `c${t}` });
      last = writeSnapshotFileSync({ directory: dir, maxFiles: 2 }, name, [
        bytes('{"n":'),
        bytes(`${t}}`),
      ]);
    }
    assert.deepEqual(JSON.parse(fs.readFileSync(last, 'utf8')), { n: 3 });
    assert.deepEqual(
      fs.readdirSync(dir).map((n) => parseSnapshotFileName(n)!.snapshotId),
      ['c2', 'c3'],
    );
  });

  test('throws an error naming the directory when it cannot be written', () => {
    const file = path.join(tempDir(), 'plain-file');
    fs.writeFileSync(file, 'x');
    const name = snapshotFileName({ time: T0, trigger: 'crash' });
    assert.throws(
      () => writeSnapshotFileSync({ directory: path.join(file, 'd') }, name, bytes('{}')),
      (e: Error) => e.message.includes(JSON.stringify(path.join(file, 'd'))),
    );
  });
});

describe('listSnapshotFiles', () => {
  test('lists only our files, oldest first, with size and mtime', async () => {
    const dir = tempDir();
    const b = snapshotFileName({ time: T0 + 1, trigger: 'error', snapshotId: 'b' });
    const a = snapshotFileName({ time: T0, trigger: 'latency', snapshotId: 'a' });
    await writeSnapshotFile({ directory: dir }, b, bytes('{"x":1}'));
    await writeSnapshotFile({ directory: dir }, a, bytes('{}'));
    fs.writeFileSync(path.join(dir, 'flight-recorder-notes.json'), '{}');
    fs.writeFileSync(path.join(dir, `.${a.slice(0, -5)}.123.tmp`), '{');
    fs.mkdirSync(path.join(dir, snapshotFileName({ time: T0 + 2 })));
    const list = await listSnapshotFiles(dir);
    assert.deepEqual(
      list.map((e) => [e.name, e.size, e.path]),
      [
        [a, 2, path.join(dir, a)],
        [b, 7, path.join(dir, b)],
      ],
    );
    assert.ok(list.every((e) => e.mtimeMs > 0));
  });

  test('lists a missing directory as empty', async () => {
    assert.deepEqual(await listSnapshotFiles(path.join(tempDir(), 'nope')), []);
  });

  for (const writer of ['writeSnapshotFile', 'writeSnapshotFileSync'] as const) {
    test(`${writer} removes temp files left by a writer that died long ago`, async () => {
      const dir = tempDir();
      const stale = path.join(dir, '.flight-recorder-2026-11-22T04-15-00.123Z-x-y.json.1.ab.tmp');
      fs.writeFileSync(stale, '{');
      const old = new Date(Date.now() - 3_600_000);
      fs.utimesSync(stale, old, old);
      const fresh = path.join(dir, '.flight-recorder-2026-11-22T04-15-00.123Z-x-z.json.1.cd.tmp');
      fs.writeFileSync(fresh, '{');
      const name = snapshotFileName({ time: T0 });
      if (writer === 'writeSnapshotFile')
        await writeSnapshotFile({ directory: dir }, name, bytes('{}'));
      // A crash dump: a signal snapshot cut short by an earlier crash left its temp file.
      else writeSnapshotFileSync({ directory: dir }, name, bytes('{}'));
      assert.equal(fs.existsSync(stale), false);
      assert.equal(fs.existsSync(fresh), true, 'a temp file being written now is left alone');
      await fsp.rm(fresh);
    });
  }

  test('a streamed write: the pieces land in order; a producer that throws or goes past maxTotalBytes leaves no file, and says so as it is', async () => {
    const dir = tempDir();
    const text = new TextEncoder();
    const name = (id: string) =>
      snapshotFileName({ time: Date.now(), trigger: 'signal', snapshotId: id });
    const written = await writeSnapshotFileFrom({ directory: dir }, name('ok'), async (append) => {
      for (const piece of ['{"a":', '1', '}']) await append(text.encode(piece));
    });
    assert.equal(fs.readFileSync(written, 'utf8'), '{"a":1}');
    await assert.rejects(
      writeSnapshotFileFrom({ directory: dir }, name('broken'), async (append) => {
        await append(text.encode('{"a":'));
        throw new Error('serializer broke');
      }),
      (error: Error) => error.message === 'serializer broke',
    );
    await assert.rejects(
      writeSnapshotFileFrom(
        { directory: dir, maxTotalBytes: 1_000 },
        name('big'),
        async (append) => {
          await append(new Uint8Array(600));
          await append(new Uint8Array(600));
        },
      ),
      (error: Error) =>
        /exceeds maxTotalBytes \(1000\)/.test(error.message) &&
        !error.message.includes('cannot write snapshot files'),
    );
    assert.deepEqual(fs.readdirSync(dir), [path.basename(written)], 'no other file, no temp file');
  });
});

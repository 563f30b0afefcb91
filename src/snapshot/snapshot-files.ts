import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { untraced } from '../untraced.js';

/** Where snapshot files go when no directory is given, relative to `process.cwd()`. */
export const DEFAULT_SNAPSHOT_DIR = 'flight-recorder-snapshots';

/** The default of {@link SnapshotDirOptions.maxFiles}. */
export const DEFAULT_MAX_FILES = 100;
/** The default of {@link SnapshotDirOptions.maxTotalBytes}: 256 MiB. */
export const DEFAULT_MAX_TOTAL_BYTES = 256 * 1024 * 1024;

/** A snapshot directory and its bounds. Only files named by {@link snapshotFileName} count. */
export interface SnapshotDirOptions {
  /** The directory, created when missing. A relative path is resolved against `process.cwd()` at each write. */
  directory: string;
  /**
   * The most snapshot files kept in the directory; past it the oldest are
   * removed after each write. Unit: files. The default value is 100.
   */
  maxFiles?: number;
  /**
   * The most bytes the snapshot files in the directory may hold together;
   * past it the oldest are removed after each write. A single body larger
   * than this is refused. Unit: bytes. The default value is 268435456 (256 MiB).
   */
  maxTotalBytes?: number;
}

/** One snapshot file, as {@link listSnapshotFiles} reports it. */
export interface SnapshotFileEntry {
  /** Absolute path. */
  path: string;
  /** File name within the directory. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time, epoch milliseconds. */
  mtimeMs: number;
}

/** What a snapshot file name says about its snapshot. */
export interface SnapshotFileNameInfo {
  /** When the file was named, epoch milliseconds. */
  time: number;
  /** The sanitized trigger. */
  trigger: string;
  /** The sanitized snapshot id. */
  snapshotId: string;
}

const PREFIX = 'flight-recorder-';
const SUFFIX = '.json';
/** Temp files start with a dot so no listing (ours or a user's `ls`) shows them. */
const TEMP_PREFIX = `.${PREFIX}`;
const TEMP_SUFFIX = '.tmp';
/**
 * Snapshot files hold what every request did (URLs, attributes, other
 * users' data): readable by their owner alone, and a directory made here too.
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** A temp file this old was left by a process that died mid-write. */
const STALE_TEMP_MS = 10 * 60 * 1000;
const MAX_TRIGGER_LENGTH = 64;
const MAX_ID_LENGTH = 64;
const DEFAULT_TRIGGER = 'snapshot';

// flight-recorder-2026-11-22T04-15-00.123Z-<trigger>-<id>.json. The id has no
// '-', so the last '-' splits trigger from id even when the trigger has some.
const TIME = '(\\d{4}-\\d{2}-\\d{2})T(\\d{2})-(\\d{2})-(\\d{2})\\.(\\d{3})Z';
const OURS = new RegExp(`^${PREFIX}${TIME}(?:-[A-Za-z0-9_-]*)?\\${SUFFIX}$`);
const FULL = new RegExp(`^${PREFIX}${TIME}-([A-Za-z0-9_-]+)-([A-Za-z0-9_]+)\\${SUFFIX}$`);

/**
 * The file name of a snapshot: `flight-recorder-<UTC time>-<trigger>-<id>.json`,
 * for example `flight-recorder-2026-11-22T04-15-00.123Z-latency-9f2c4e1a7b3d5f60.json`.
 * Names sort by time. The trigger keeps only `[A-Za-z0-9_-]` (others become
 * `_`; `snapshot` when missing) and the id only `[A-Za-z0-9_]` (a random id
 * when missing, so two names made in the same millisecond do not collide).
 */
export function snapshotFileName(info: {
  time: number;
  trigger?: string;
  snapshotId?: string;
}): string {
  if (info === null || typeof info !== 'object') {
    throw new TypeError(`Expected info to be an object, got ${String(info)}`);
  }
  const date = new Date(info.time);
  if (!Number.isFinite(info.time) || Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) {
    throw new TypeError(
      `Expected \`time\` to be epoch milliseconds (a finite number), got ${String(info.time)}`,
    );
  }
  const time = date.toISOString().replace(/:/g, '-');
  const trigger = sanitize(info.trigger, /[^A-Za-z0-9_-]/g, MAX_TRIGGER_LENGTH) || DEFAULT_TRIGGER;
  const id =
    sanitize(info.snapshotId, /[^A-Za-z0-9_]/g, MAX_ID_LENGTH) || randomBytes(8).toString('hex');
  return `${PREFIX}${time}-${trigger}-${id}${SUFFIX}`;
}

/** Reads back what {@link snapshotFileName} put in a name; undefined for other names. */
export function parseSnapshotFileName(name: string): SnapshotFileNameInfo | undefined {
  const m = FULL.exec(name);
  if (m === null) return undefined;
  const time = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  if (Number.isNaN(time)) return undefined;
  return { time, trigger: m[6]!, snapshotId: m[7]! };
}

/** Whether `name` is a snapshot file name of ours. */
export function isSnapshotFileName(name: string): boolean {
  return OURS.test(name);
}

function sanitize(value: string | undefined, bad: RegExp, max: number): string {
  if (typeof value !== 'string') return '';
  return value.replace(bad, '_').slice(0, max);
}

interface Resolved {
  directory: string;
  maxFiles: number;
  maxTotalBytes: number;
}

/** Throws a TypeError unless `directory` is a path that is not blank. */
function checkDirectory(directory: unknown): asserts directory is string {
  if (typeof directory !== 'string' || directory.trim() === '') {
    throw new TypeError(
      `Expected \`directory\` to be a path that is not blank, got ${JSON.stringify(directory)}`,
    );
  }
}

function resolveDirOptions(opts: SnapshotDirOptions): Resolved {
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError(`Expected options to be an object, got ${String(opts)}`);
  }
  const { directory, maxFiles = DEFAULT_MAX_FILES, maxTotalBytes = DEFAULT_MAX_TOTAL_BYTES } = opts;
  checkDirectory(directory);
  if (!Number.isInteger(maxFiles) || maxFiles < 1) {
    throw new TypeError(`Expected \`maxFiles\` to be an integer >= 1, got ${String(maxFiles)}`);
  }
  if (!Number.isInteger(maxTotalBytes) || maxTotalBytes < 1) {
    throw new TypeError(
      `Expected \`maxTotalBytes\` to be an integer >= 1, got ${String(maxTotalBytes)}`,
    );
  }
  return { directory: path.resolve(directory), maxFiles, maxTotalBytes };
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !OURS.test(name)) {
    throw new TypeError(
      `Expected \`name\` to be a file name from snapshotFileName(), got ${JSON.stringify(name)}`,
    );
  }
}

function chunksOf(body: Uint8Array | readonly Uint8Array[]): readonly Uint8Array[] {
  if (body instanceof Uint8Array) return [body];
  if (Array.isArray(body) && body.every((c) => c instanceof Uint8Array)) return body;
  throw new TypeError('Expected `body` to be a Uint8Array or an array of Uint8Array');
}

function byteLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  return n;
}

function tempName(name: string): string {
  return `${TEMP_PREFIX}${name.slice(PREFIX.length)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`;
}

function dirError(directory: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const error = new Error(
    `otel-flight-recorder: cannot write snapshot files to directory ${JSON.stringify(directory)}: ${reason}`,
    { cause },
  );
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined) (error as NodeJS.ErrnoException).code = code;
  return error;
}

function tooLarge(directory: string, size: number, max: number): Error {
  return new Error(
    `otel-flight-recorder: a snapshot of ${size} bytes exceeds maxTotalBytes (${max}) of directory ${JSON.stringify(directory)}; not written`,
  );
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Creates `directory` when missing (`mkdir -p`) and checks that files can be
 * created in it, so a caller can fail early instead of at its first write.
 *
 * @returns The absolute path of the directory.
 * @throws Error (as a rejection) naming the directory when it cannot be written.
 */
export function ensureSnapshotDirectory(directory: string): Promise<string> {
  return untraced(() => ensureDirectory(directory));
}

async function ensureDirectory(directory: string): Promise<string> {
  checkDirectory(directory);
  const dir = path.resolve(directory);
  try {
    await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
    await fsp.access(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw dirError(dir, error);
  }
  return dir;
}

/** Checks a write before it touches the disk; shared by the async and sync writers. */
function prepareWrite(
  opts: SnapshotDirOptions,
  name: string,
  body: Uint8Array | readonly Uint8Array[],
) {
  const o = resolveDirOptions(opts);
  checkName(name);
  const chunks = chunksOf(body);
  const size = byteLength(chunks);
  if (size > o.maxTotalBytes) throw tooLarge(o.directory, size, o.maxTotalBytes);
  const final = path.join(o.directory, name);
  const temp = path.join(o.directory, tempName(name));
  return { o, chunks, final, temp };
}

/**
 * Writes one snapshot file atomically and keeps the directory in bounds.
 *
 * The body goes to a temp file in the same directory (created with `mkdir -p`
 * when missing), is synced to disk and then renamed to `name`, so a reader
 * never sees a partial file. Then the oldest snapshot files (by the time in
 * their names) are removed while there are more than `maxFiles` or they hold
 * more than `maxTotalBytes`; the new file is never removed. Other files in the
 * directory are left alone.
 *
 * @returns The absolute path of the file written.
 * @throws TypeError (as a rejection) on bad options or a name not made by {@link snapshotFileName}.
 * @throws Error (as a rejection) naming the directory when it cannot be written.
 */
export async function writeSnapshotFile(
  opts: SnapshotDirOptions,
  name: string,
  body: Uint8Array | readonly Uint8Array[],
): Promise<string> {
  const { chunks } = prepareWrite(opts, name, body);
  return writeSnapshotFileFrom(opts, name, async (append) => {
    for (const chunk of chunks) await append(chunk);
  });
}

/**
 * {@link writeSnapshotFile}, with the body appended a piece at a time by
 * `produce` as it is made, so only a piece is in memory at once. Each
 * `append` waits for the disk; one that would take the file past
 * `maxTotalBytes` rejects, and `produce`'s rejection leaves no file.
 *
 * @returns The absolute path of the file written.
 */
export function writeSnapshotFileFrom(
  opts: SnapshotDirOptions,
  name: string,
  produce: (append: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<string> {
  // Invariant: the recorder's own file I/O is never traced (see untraced).
  return untraced(() => writeFrom(opts, name, produce));
}

async function writeFrom(
  opts: SnapshotDirOptions,
  name: string,
  produce: (append: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<string> {
  const o = resolveDirOptions(opts);
  checkName(name);
  const final = path.join(o.directory, name);
  const temp = path.join(o.directory, tempName(name));
  /** What `produce` threw that is not the directory's fault (its own error, or the size bound). */
  let own: unknown;
  try {
    await fsp.mkdir(o.directory, { recursive: true, mode: DIR_MODE });
    const handle = await fsp.open(temp, 'wx', FILE_MODE);
    try {
      let size = 0;
      let diskError: unknown;
      try {
        await produce(async (chunk) => {
          size += chunk.byteLength;
          if (size > o.maxTotalBytes) throw tooLarge(o.directory, size, o.maxTotalBytes);
          try {
            for (let off = 0; off < chunk.byteLength;) {
              off += (await handle.write(chunk, off)).bytesWritten;
            }
          } catch (error) {
            diskError = error;
            throw error;
          }
        });
      } catch (error) {
        if (error !== diskError) own = error;
        throw error;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, final);
  } catch (error) {
    await fsp.rm(temp, { force: true }).catch(() => {});
    throw own !== undefined && error === own ? error : dirError(o.directory, error);
  }
  await prune(o, name);
  return final;
}

/**
 * {@link writeSnapshotFile}, synchronously. It blocks the event loop for the
 * whole write, so it is meant only for the moment a process is about to die
 * (crash dumps), when nothing asynchronous will run again.
 *
 * @returns The absolute path of the file written.
 * @throws TypeError on bad options or a name not made by {@link snapshotFileName}.
 * @throws Error naming the directory when it cannot be written.
 */
export function writeSnapshotFileSync(
  opts: SnapshotDirOptions,
  name: string,
  body: Uint8Array | readonly Uint8Array[],
): string {
  return untraced(() => writeSync(opts, name, body));
}

function writeSync(
  opts: SnapshotDirOptions,
  name: string,
  body: Uint8Array | readonly Uint8Array[],
): string {
  const { o, chunks, final, temp } = prepareWrite(opts, name, body);
  try {
    fs.mkdirSync(o.directory, { recursive: true, mode: DIR_MODE });
    const fd = fs.openSync(temp, 'wx', FILE_MODE);
    try {
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.byteLength) off += fs.writeSync(fd, chunk, off);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, final);
  } catch (error) {
    try {
      fs.rmSync(temp, { force: true });
    } catch {}
    throw dirError(o.directory, error);
  }
  pruneSync(o, name);
  return final;
}

/**
 * The snapshot files in `directory`, oldest first (by the time in their
 * names). Other files, temp files and subdirectories are left out. A missing
 * directory lists as empty.
 */
export async function listSnapshotFiles(directory: string): Promise<SnapshotFileEntry[]> {
  const dir = path.resolve(directory);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const entries: SnapshotFileEntry[] = [];
  for (const name of names.filter((n) => OURS.test(n)).sort()) {
    try {
      const stat = await fsp.stat(path.join(dir, name));
      if (stat.isFile()) entries.push(entryOf(dir, name, stat));
    } catch {
      // Removed between readdir and stat (another writer pruning), or not a
      // file of ours (a symlink loop, no permission): skip it, so one such
      // entry never stops the rest from being listed and pruned.
    }
  }
  return entries;
}

function listSync(dir: string): SnapshotFileEntry[] {
  const entries: SnapshotFileEntry[] = [];
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => OURS.test(n))
    .sort()) {
    try {
      const stat = fs.statSync(path.join(dir, name));
      if (stat.isFile()) entries.push(entryOf(dir, name, stat));
    } catch {
      // As in listSnapshotFiles: an entry that cannot be read is skipped.
    }
  }
  return entries;
}

function entryOf(dir: string, name: string, stat: fs.Stats): SnapshotFileEntry {
  return { path: path.join(dir, name), name, size: stat.size, mtimeMs: stat.mtimeMs };
}

/** The entries to remove, oldest first, so the rest fit the bounds; `keep` is never chosen. */
function overBounds(o: Resolved, entries: SnapshotFileEntry[], keep: string): SnapshotFileEntry[] {
  let files = entries.length;
  let bytes = 0;
  for (const e of entries) bytes += e.size;
  const remove: SnapshotFileEntry[] = [];
  for (const e of entries) {
    if (files <= o.maxFiles && bytes <= o.maxTotalBytes) break;
    if (e.name === keep) continue;
    remove.push(e);
    files--;
    bytes -= e.size;
  }
  return remove;
}

function isStaleTemp(name: string, now: number, mtimeMs: number): boolean {
  return (
    name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX) && now - mtimeMs > STALE_TEMP_MS
  );
}

// Pruning errors are not the write's: the file is in place, so they are ignored
// (a concurrent writer may have removed the same file first).
async function prune(o: Resolved, keep: string): Promise<void> {
  try {
    const entries = await listSnapshotFiles(o.directory);
    for (const e of overBounds(o, entries, keep)) await fsp.rm(e.path, { force: true });
    const now = Date.now();
    for (const name of await fsp.readdir(o.directory)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const stat = await fsp.stat(path.join(o.directory, name)).catch(() => undefined);
      if (stat !== undefined && isStaleTemp(name, now, stat.mtimeMs)) {
        await fsp.rm(path.join(o.directory, name), { force: true });
      }
    }
  } catch {}
}

function pruneSync(o: Resolved, keep: string): void {
  try {
    for (const e of overBounds(o, listSync(o.directory), keep)) fs.rmSync(e.path, { force: true });
    const now = Date.now();
    for (const name of fs.readdirSync(o.directory)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      try {
        const temp = path.join(o.directory, name);
        if (isStaleTemp(name, now, fs.statSync(temp).mtimeMs)) fs.rmSync(temp, { force: true });
      } catch {}
    }
  } catch {}
}

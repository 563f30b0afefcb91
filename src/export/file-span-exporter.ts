import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../marks.js';
import {
  ITEM_SEPARATOR,
  REQUEST_PREFIX,
  REQUEST_SUFFIX,
  serializeResourceSpansItems,
} from './otlp-json.js';
import { DEFAULT_MAX_FILE_BYTES, FILE_EXPORTER_OPTIONS, resolveTable } from '../config.js';
import { warnAboutEnv } from '../env-warnings.js';
import { waitForResources } from '../resource-attributes.js';
import { MIN_DUMP_INTERVAL_MS } from '../snapshot/crash-dump.js';
import { asError } from './call-exporter.js';
import {
  ensureSnapshotDirectory,
  type SnapshotDirOptions,
  snapshotFileName,
  writeSnapshotFile,
  writeSnapshotFileSync,
} from '../snapshot/snapshot-files.js';

/** Options of {@link FileSpanExporter}. */
export interface FileSpanExporterOptions {
  /**
   * The directory the files go to, created when missing. A relative path is
   * resolved against `process.cwd()`. Env: `FLIGHT_RECORDER_SNAPSHOT_DIR`,
   * read when the exporter is built. The default is
   * `'flight-recorder-snapshots'`.
   */
  directory?: string;
  /**
   * The most snapshot files kept in the directory; after each write the
   * oldest are removed. Unit: files, an integer. Code only. The default is 100.
   */
  maxFiles?: number;
  /**
   * The most bytes the snapshot files in the directory may hold together;
   * after each write the oldest are removed. Unit: bytes, an integer. Code
   * only. The default is 268435456 (256 MiB).
   */
  maxTotalBytes?: number;
  /**
   * How long the spans of a flush are held after the last batch of that
   * flush arrived, waiting for more of it, before its file is written. A
   * flush also goes to disk as soon as a span of another flush arrives, and
   * on `forceFlush` and `shutdown`. Unit: milliseconds, at most 2147483647
   * (what a timer holds). Code only. The default is 500 ms.
   */
  writeDelayMs?: number;
  /**
   * The most bytes of serialized spans held in memory for one file. A flush
   * larger than this continues in a further file with the same snapshot id,
   * even within one export call; a single span larger than this goes alone.
   * So every file fits `maxTotalBytes` (but such a span), and the directory
   * rotates, the oldest files removed first. Unit: bytes, an integer of at
   * most 1073741824 (1 GiB), held in one buffer. Code only. The default is
   * 16777216 (16 MiB), at most `maxTotalBytes`.
   */
  maxFileBytes?: number;
  /**
   * Called after each file is written, or fails to be, with what it held.
   * If it throws, one warning is logged. Code only. The default is none.
   */
  onWrite?: (write: SnapshotFileWrite) => void;
}

/** What {@link FileSpanExporterOptions.onWrite} is told about a file. */
export interface SnapshotFileWrite {
  /** The absolute path of the file; undefined when it was not written. */
  path: string | undefined;
  /** Why the file was not written; undefined when it was. */
  error: Error | undefined;
  /** The `flight_recorder.snapshot.id` of its spans; undefined for spans exported outside a recorder. */
  snapshotId: string | undefined;
  /** The `flight_recorder.trigger` of its spans; undefined for spans exported outside a recorder. */
  trigger: string | undefined;
  /** How many spans it holds. */
  spans: number;
  /** Its size in bytes. */
  bytes: number;
}

/** The spans of one snapshot held until their file is written. */
interface Pending {
  snapshotId: string | undefined;
  trigger: string | undefined;
  /** Serialized `resourceSpans` items, one per export call. */
  chunks: Uint8Array[];
  /** The body size once framed: prefix, chunks, separators and suffix. */
  bytes: number;
  spans: number;
}

const FRAME_BYTES = REQUEST_PREFIX.byteLength + REQUEST_SUFFIX.byteLength;
/**
 * Exports that may wait for the disk at once, each holding its serialized
 * spans. A disk that never answers (a hung network mount) would otherwise
 * keep one batch per export the recorder gave up on: past this, an export
 * fails at once.
 */
const MAX_WAITING_EXPORTS = 8;

/**
 * A span exporter that writes spans as OTLP/HTTP JSON `ExportTraceServiceRequest`
 * bodies, one file per flush, into a directory: the body the OTLP/HTTP
 * exporter would have sent, so a file can be POSTed to any collector's
 * `/v1/traces` later.
 *
 * Spans are grouped by their `flight_recorder.snapshot.id`, so a flush the
 * recorder hands over in several batches lands in one file. Its file is
 * written when a span of another flush arrives, after `writeDelayMs` without
 * more of it, or on `forceFlush`/`shutdown`; spans of a flush that arrive
 * after its file was written (late children) go to a further file with the
 * same snapshot id. Spans without a snapshot id (used outside the recorder)
 * go one file per export call.
 *
 * Writes are atomic (a temp file, then a rename) and the directory is kept
 * within `maxFiles` and `maxTotalBytes`, the oldest files removed first.
 *
 * An export call succeeds once its spans are serialized and, when they start
 * a new file, the directory has been checked writable. A directory that
 * cannot be written fails the call with an error naming it and logs once
 * through `diag` (again only after a write has succeeded); the export
 * callback always fires and nothing is thrown. A file that fails when it is
 * finally written is reported through `diag` and `onWrite`.
 *
 * Spans it has answered for have left the recorder's export queue, so a crash
 * dump no longer holds them: while it holds any (a flush waiting for
 * `writeDelayMs`, or a file being written), it listens for an uncaught
 * exception (`uncaughtExceptionMonitor`, as the crash dump does) and then
 * writes them synchronously, as the process is about to die.
 *
 * @example
 * ```ts
 * const recorder = new FlightRecorderSpanProcessor({
 *   exporter: new FileSpanExporter({ directory: '/var/tmp/snapshots' }),
 * });
 * ```
 */
export class FileSpanExporter implements SpanExporter {
  private readonly _dir: SnapshotDirOptions;
  private readonly _writeDelayMs: number;
  private readonly _maxFileBytes: number;
  private readonly _onWrite: ((write: SnapshotFileWrite) => void) | undefined;
  private _pending: Pending | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  /** Every operation on `_pending` and the disk runs in order on this chain. */
  private _tail: Promise<unknown> = Promise.resolve();
  /** Exports accepted and not yet written (or failed). */
  private _waiting = 0;
  private _lastTime = 0;
  private _failing = false;
  private _warnedOnWrite = false;
  private _shutdown: Promise<void> | undefined;
  /**
   * Files being written asynchronously, by name: a crash writes them again
   * synchronously under the same name, since the process dies before the
   * write ends (if it survives, the rename puts the same bytes in place).
   */
  private readonly _writing = new Map<string, Uint8Array[]>();
  private _watchingCrash = false;
  /** When `_onCrash` last wrote synchronously (`Date.now()` ms). */
  private _lastCrashWrite = Number.NEGATIVE_INFINITY;
  /**
   * Writes what is held at once; the process is crashing. Never throws. At
   * most once a minute, as a crash dump: an app that survives its uncaught
   * exceptions (an `uncaughtException` handler) must not block on a
   * synchronous write for each; what is held then goes out as usual.
   */
  private readonly _onCrash = (): void => {
    const now = Date.now();
    if (now - this._lastCrashWrite < MIN_DUMP_INTERVAL_MS) return;
    this._lastCrashWrite = now;
    this._clearTimer();
    this._unwatchCrash();
    for (const [name, body] of this._writing) {
      try {
        writeSnapshotFileSync(this._dir, name, body);
      } catch (error) {
        this._failQuietly(error);
      }
    }
    this._writing.clear();
    const pending = this._pending;
    if (pending === undefined) return;
    this._pending = undefined;
    const { name, body } = this._frame(pending);
    let path: string | undefined;
    let error: Error | undefined;
    try {
      path = writeSnapshotFileSync(this._dir, name, body);
    } catch (e) {
      error = asError(e);
      this._failQuietly(error);
    }
    this._notify(this._writeOf(pending, path, error));
  };

  /**
   * @throws TypeError when an option is invalid, naming the option and value.
   */
  constructor(options: FileSpanExporterOptions = {}) {
    const o = resolveTable(FILE_EXPORTER_OPTIONS, options, process.env, warnAboutEnv);
    const { directory, maxFiles, maxTotalBytes, writeDelayMs, onWrite } = o;
    const maxFileBytes = o.maxFileBytes ?? Math.min(DEFAULT_MAX_FILE_BYTES, maxTotalBytes);
    if (maxFileBytes > maxTotalBytes) {
      throw new TypeError(
        `Expected \`maxFileBytes\` to be at most maxTotalBytes (${maxTotalBytes}), got ${maxFileBytes}`,
      );
    }
    this._dir = { directory, maxFiles, maxTotalBytes };
    this._writeDelayMs = writeDelayMs;
    this._maxFileBytes = maxFileBytes;
    this._onWrite = onWrite;
  }

  /** The directory files are written to, as given (relative paths resolve against `process.cwd()`). */
  get directory(): string {
    return this._dir.directory;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let done: Promise<ExportResult>;
    try {
      if (this._shutdown !== undefined) {
        done = Promise.resolve({
          code: ExportResultCode.FAILED,
          error: new Error('otel-flight-recorder: FileSpanExporter is shut down'),
        });
      } else if (this._waiting >= MAX_WAITING_EXPORTS) {
        done = Promise.resolve({
          code: ExportResultCode.FAILED,
          error: new Error(
            `otel-flight-recorder: FileSpanExporter: ${MAX_WAITING_EXPORTS} exports are still waiting for the disk in ${this._dir.directory}; this one is dropped`,
          ),
        });
      } else {
        const settling = waitForResources(spans);
        if (settling === undefined) {
          // Serialized now: the write holds bytes, not spans (the result
          // callback below reaches them until the directory check answers).
          const groups = groupBySnapshot(spans, this._maxFileBytes);
          done = this._enqueueAccept(() => this._accept(groups));
        } else {
          done = this._enqueueAccept(() =>
            settling.then(() => this._accept(groupBySnapshot(spans, this._maxFileBytes))),
          );
        }
        this._waiting++;
        const settled = (): void => {
          this._waiting--;
        };
        done.then(settled, settled);
      }
    } catch (error) {
      done = Promise.resolve({ code: ExportResultCode.FAILED, error: asError(error) });
    }
    done
      .catch((error: unknown) => ({ code: ExportResultCode.FAILED, error: asError(error) }))
      .then((result) => {
        try {
          resultCallback(result);
        } catch (error) {
          diag.error(`otel-flight-recorder: an export result callback threw: ${error}`);
        }
      });
  }

  /** Writes the file of the flush being held, if any. Never rejects; failures go to `diag`. */
  forceFlush(): Promise<void> {
    this._clearTimer();
    return this._enqueue(() => this._writePending()).then(
      () => {},
      () => {},
    );
  }

  /** Writes what is held, then refuses further exports. Calling it again returns the same promise. */
  shutdown(): Promise<void> {
    this._shutdown ??= this.forceFlush();
    return this._shutdown;
  }

  private _enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this._tail.then(op);
    this._tail = run.catch(() => {});
    return run;
  }

  /**
   * Runs an export's `accept` in order, and resolves with its result once
   * it is accepted, while the operations after it wait until the files it
   * completed are written too.
   */
  private _enqueueAccept(
    accept: () => Promise<{ result: ExportResult; written: Promise<void> }>,
  ): Promise<ExportResult> {
    const run = this._tail.then(accept);
    this._tail = run.then(
      ({ written }) => written.catch(() => {}),
      () => {},
    );
    return run.then(({ result }) => result);
  }

  /**
   * Takes an export's groups: each with a snapshot id joins the file being
   * held for it, or completes that file and starts the next (one without is
   * written at once). The completed files are written after the export is
   * answered (`written`): until the answer, the recorder still holds the
   * spans (a crash dump writes them), and after it they are this exporter's,
   * on disk or written by {@link _onCrash}, so a crash never puts a span in
   * both.
   */
  private async _accept(
    groups: Group[],
  ): Promise<{ result: ExportResult; written: Promise<void> }> {
    let error: Error | undefined;
    const files: { pending: Pending; name: string; body: Uint8Array[] }[] = [];
    for (const group of groups) {
      const { chunk, spans } = group;
      if (group.snapshotId === undefined) {
        // Not a flush's (a crash dump never holds them): a file of its own,
        // on disk before the export is answered, as a plain exporter's.
        const write = await this._write(newPending(group));
        error ??= write;
        continue;
      }
      const pending = this._pending;
      if (
        pending !== undefined &&
        pending.snapshotId === group.snapshotId &&
        pending.bytes + ITEM_SEPARATOR.byteLength + chunk.byteLength <= this._maxFileBytes
      ) {
        pending.chunks.push(chunk);
        pending.bytes += ITEM_SEPARATOR.byteLength + chunk.byteLength;
        pending.spans += spans;
        continue;
      }
      if (pending !== undefined) {
        // Framed (named, in order) and crash-writable as it leaves
        // `_pending`, before anything awaits: its spans were answered for.
        this._pending = undefined;
        this._clearTimer();
        const file = { pending, ...this._frame(pending) };
        this._writing.set(file.name, file.body);
        files.push(file);
      }
      // Checked now, so a bad directory fails this call rather than a later one.
      const bad = await this._checkDirectory();
      if (bad !== undefined) {
        error ??= bad;
        continue;
      }
      this._pending = newPending(group);
    }
    if (this._pending !== undefined) this._armTimer();
    this._watchCrashWhileHolding();
    const written = (async () => {
      for (const { pending, name, body } of files) await this._writeFramed(pending, name, body);
    })();
    return {
      result:
        error === undefined
          ? { code: ExportResultCode.SUCCESS }
          : { code: ExportResultCode.FAILED, error },
      written,
    };
  }

  private async _checkDirectory(): Promise<Error | undefined> {
    try {
      await ensureSnapshotDirectory(this._dir.directory);
      return undefined;
    } catch (error) {
      const e = asError(error);
      this._fail(e);
      return e;
    }
  }

  private async _writePending(): Promise<void> {
    const pending = this._pending;
    if (pending === undefined) return;
    this._pending = undefined;
    this._clearTimer();
    await this._write(pending);
  }

  /** Listens for a crash while spans are held (see {@link _onCrash}), and only then. */
  private _watchCrashWhileHolding(): void {
    const holding = this._pending !== undefined || this._writing.size > 0;
    if (holding && !this._watchingCrash) {
      this._watchingCrash = true;
      process.on('uncaughtExceptionMonitor', this._onCrash);
    } else if (!holding) {
      this._unwatchCrash();
    }
  }

  private _unwatchCrash(): void {
    if (!this._watchingCrash) return;
    this._watchingCrash = false;
    process.removeListener('uncaughtExceptionMonitor', this._onCrash);
  }

  /** The file name and body of `pending`; its chunks are handed over to the body. */
  private _frame(pending: Pending): { name: string; body: Uint8Array[] } {
    const body: Uint8Array[] = [REQUEST_PREFIX];
    for (const chunk of pending.chunks) {
      // An empty chunk (a serializer that gave nothing) must not leave a stray comma.
      if (chunk.byteLength === 0) continue;
      if (body.length > 1) body.push(ITEM_SEPARATOR);
      body.push(chunk);
    }
    body.push(REQUEST_SUFFIX);
    pending.chunks = [];
    // Strictly increasing, so two files of one snapshot never get the same name.
    const time = Math.max(Date.now(), this._lastTime + 1);
    this._lastTime = time;
    const name = snapshotFileName({
      time,
      trigger: pending.trigger ?? (pending.snapshotId === undefined ? 'export' : undefined),
      snapshotId: pending.snapshotId,
    });
    return { name, body };
  }

  private _writeOf(
    pending: Pending,
    path: string | undefined,
    error: Error | undefined,
  ): SnapshotFileWrite {
    return {
      path,
      error,
      snapshotId: pending.snapshotId,
      trigger: pending.trigger,
      spans: pending.spans,
      bytes: pending.bytes,
    };
  }

  /** Writes one file; returns the error when it fails, after reporting it. */
  private _write(pending: Pending): Promise<Error | undefined> {
    const { name, body } = this._frame(pending);
    this._writing.set(name, body);
    this._watchCrashWhileHolding();
    return this._writeFramed(pending, name, body);
  }

  /** Writes the file `_frame` made of `pending` (held in `_writing` until written). */
  private async _writeFramed(
    pending: Pending,
    name: string,
    body: Uint8Array[],
  ): Promise<Error | undefined> {
    let path: string | undefined;
    let error: Error | undefined;
    try {
      path = await writeSnapshotFile(this._dir, name, body);
      this._failing = false;
    } catch (e) {
      error = asError(e);
      this._fail(error);
    }
    this._writing.delete(name);
    this._watchCrashWhileHolding();
    this._notify(this._writeOf(pending, path, error));
    return error;
  }

  private _fail(error: Error): void {
    if (this._failing) return;
    this._failing = true;
    diag.error(
      `${error.message} (spans are dropped; further failures are silent until a write succeeds)`,
    );
  }

  /** {@link _fail}, where nothing may throw (a crash). */
  private _failQuietly(error: unknown): void {
    try {
      this._fail(asError(error));
    } catch {}
  }

  private _notify(write: SnapshotFileWrite): void {
    if (this._onWrite === undefined) return;
    try {
      this._onWrite(write);
    } catch (error) {
      if (this._warnedOnWrite) return;
      this._warnedOnWrite = true;
      diag.warn(`otel-flight-recorder: onWrite threw (further errors are silent): ${error}`);
    }
  }

  private _armTimer(): void {
    this._clearTimer();
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._enqueue(() => this._writePending()).catch(() => {});
    }, this._writeDelayMs);
    this._timer.unref();
  }

  private _clearTimer(): void {
    if (this._timer === undefined) return;
    clearTimeout(this._timer);
    this._timer = undefined;
  }
}

/** The spans of one snapshot in one export call, serialized. */
interface Group {
  snapshotId: string | undefined;
  trigger: string | undefined;
  /** Serialized `resourceSpans` items. */
  chunk: Uint8Array;
  spans: number;
}

/**
 * Splits spans by snapshot id, in order of first appearance, and serializes
 * each part in pieces that fit a file of `maxFileBytes` (see {@link serializeWithin}).
 */
function groupBySnapshot(spans: ReadableSpan[], maxFileBytes: number): Group[] {
  const groups = new Map<
    string | undefined,
    { snapshotId: string | undefined; trigger: string | undefined; spans: ReadableSpan[] }
  >();
  for (const span of spans) {
    const attributes = span.attributes;
    const id = attributes[SNAPSHOT_ID_ATTRIBUTE];
    const snapshotId = typeof id === 'string' && id !== '' ? id : undefined;
    let group = groups.get(snapshotId);
    if (group === undefined) {
      const trigger = attributes[TRIGGER_ATTRIBUTE];
      group = {
        snapshotId,
        trigger: snapshotId !== undefined && typeof trigger === 'string' ? trigger : undefined,
        spans: [],
      };
      groups.set(snapshotId, group);
    }
    group.spans.push(span);
  }
  const out: Group[] = [];
  for (const g of groups.values()) {
    for (const piece of serializeWithin(g.spans, maxFileBytes - FRAME_BYTES)) {
      out.push({ snapshotId: g.snapshotId, trigger: g.trigger, ...piece });
    }
  }
  return out;
}

/**
 * `spans` serialized as `resourceSpans` items, in order, in pieces of at most
 * `max` bytes each; a span larger than that is a piece alone. Spans that fit
 * are serialized once; larger exports are cut into even pieces by their
 * average span's size, and a piece that still does not fit is halved until it does.
 */
function serializeWithin(
  spans: ReadableSpan[],
  max: number,
): { chunk: Uint8Array; spans: number }[] {
  const whole = serializeResourceSpansItems(spans);
  if (whole.byteLength <= max || spans.length <= 1) return [{ chunk: whole, spans: spans.length }];
  // Even pieces aiming below the bound (spans differ in size, and each piece
  // repeats its resource and scope), so no small remainder gets a file of its own.
  const count = Math.ceil(whole.byteLength / (0.9 * max));
  const per = Math.max(1, Math.ceil(spans.length / count));
  const pieces: { chunk: Uint8Array; spans: number }[] = [];
  const add = (part: ReadableSpan[]): void => {
    const chunk = serializeResourceSpansItems(part);
    if (chunk.byteLength <= max || part.length === 1) {
      pieces.push({ chunk, spans: part.length });
      return;
    }
    const half = Math.ceil(part.length / 2);
    add(part.slice(0, half));
    add(part.slice(half));
  };
  for (let i = 0; i < spans.length; i += per) add(spans.slice(i, i + per));
  return pieces;
}

function newPending(group: Group): Pending {
  return {
    snapshotId: group.snapshotId,
    trigger: group.trigger,
    chunks: [group.chunk],
    bytes: FRAME_BYTES + group.chunk.byteLength,
    spans: group.spans,
  };
}

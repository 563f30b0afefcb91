import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { diag } from '@opentelemetry/api';
import { fromEnv, OPTIONS } from '../config.js';
import { warnAboutSetup } from '../env-warnings.js';
import { type SnapshotDirOptions, snapshotFileName, writeSnapshotFile } from './snapshot-files.js';
import { type SnapshotSource, writeWindowSnapshot } from './snapshot-writer.js';

/** The trigger that signal snapshots carry. */
export const SIGNAL_TRIGGER = 'signal';

/** Collects what a snapshot writes, so it can go to a file in one atomic write. */
class Chunks extends Writable {
  readonly chunks: Uint8Array[] = [];
  override _write(chunk: Uint8Array, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
}

/**
 * Writes the recorder's window to a new snapshot file in `dir`, marked with
 * `trigger`, and resolves to the file's path. The window is read into memory
 * first (a slice of spans at a time), then written atomically.
 */
export async function writeSnapshotToDirectory(
  recorder: SnapshotSource,
  dir: SnapshotDirOptions,
  trigger: string,
): Promise<string> {
  const sink = new Chunks();
  let name = '';
  await writeWindowSnapshot(recorder, sink, { trigger }, (info) => {
    name = snapshotFileName(info);
  });
  return writeSnapshotFile(dir, name, sink.chunks);
}

/**
 * `ignoring FLIGHT_RECORDER_SNAPSHOT_SIGNAL="…": ` when that variable names
 * `signal` (an option in code wins over it, but then names the same signal),
 * else nothing.
 */
function signalSource(signal: string): string {
  const row = OPTIONS.snapshotSignal;
  const variable = row.env ?? '';
  const fromVariable = fromEnv(row, process.env, () => {});
  return fromVariable === signal
    ? `ignoring ${variable}=${JSON.stringify(process.env[variable])}: `
    : '';
}

/**
 * Makes each `signal` write a snapshot file of the recorder's window to
 * `dir`. A signal that arrives while the previous snapshot is still being
 * written is ignored. Failures are logged through `diag`; the process is
 * never harmed. Returns the function that removes the listener.
 */
export function installSnapshotSignal(
  recorder: SnapshotSource,
  signal: string,
  dir: SnapshotDirOptions,
): () => void {
  let busy = false;
  const listener = (): void => {
    if (busy) {
      diag.warn(
        `otel-flight-recorder: ${signal} ignored: the previous snapshot is still being written`,
      );
      return;
    }
    busy = true;
    writeSnapshotToDirectory(recorder, dir, SIGNAL_TRIGGER).then(
      (path) => {
        busy = false;
        diag.info(`otel-flight-recorder: ${signal}: snapshot written to ${path}`);
      },
      (error: unknown) => {
        busy = false;
        diag.error(`otel-flight-recorder: ${signal}: snapshot not written: ${String(error)}`);
      },
    );
  };
  if (!(signal in constants.signals)) {
    // Installed while the recorder is built, before NodeSDK installs its
    // logger: reported so that it reaches the user (see env-warnings.ts).
    warnAboutSetup(
      `otel-flight-recorder: ${signalSource(signal)}${signal} does not exist on ${process.platform}; no snapshot signal`,
    );
    return () => {};
  }
  process.on(signal, listener);
  return () => {
    process.removeListener(signal, listener);
  };
}

import { constants } from 'node:os';
import { fromEnv, OPTIONS } from '../config.js';
import { report, warnAboutSetup } from '../env-warnings.js';
import {
  ITEM_SEPARATOR,
  REQUEST_PREFIX,
  REQUEST_SUFFIX,
  serializeResourceSpansItems,
} from '../export/otlp-json.js';
import { markSpan, newSnapshotId } from '../marks.js';
import {
  DEFAULT_MAX_TOTAL_BYTES,
  type SnapshotDirOptions,
  snapshotFileName,
  writeSnapshotFileFrom,
} from './snapshot-files.js';
import { exclusiveSnapshot, SLICE_SPANS, type SnapshotSource, viewOf } from './snapshot-writer.js';

/** The trigger that signal snapshots carry. */
export const SIGNAL_TRIGGER = 'signal';

/** What {@link writeSnapshotToDirectory} wrote. */
export interface DirectorySnapshot {
  /** The absolute path of the file. */
  path: string;
  /** The spans in it. */
  spans: number;
  /** The oldest spans of the window left out, to stay within the bounds. */
  left: number;
}

/**
 * Writes the recorder's window to a new snapshot file in `dir`, marked with
 * `trigger`, atomically. It holds the newest spans within the directory's
 * `maxTotalBytes` of JSON, so the file is never refused for its size: the
 * window is read from the newest end a slice at a time (the event loop runs
 * between slices), each slice written to the file as it is made (so only a
 * slice of JSON is in memory, whatever the window), newest first; reading
 * stops at the first slice that does not fit, and `left` counts the older
 * spans left out. The copy of the window it reads from is bounded the same
 * way: no span's JSON is smaller than its OTLP protobuf.
 */
export function writeSnapshotToDirectory(
  recorder: SnapshotSource,
  dir: SnapshotDirOptions,
  trigger: string,
): Promise<DirectorySnapshot> {
  return exclusiveSnapshot(recorder, async () => {
    const budget =
      (dir.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES) -
      REQUEST_PREFIX.byteLength -
      REQUEST_SUFFIX.byteLength;
    const view = viewOf(recorder, Math.max(0, budget));
    const mark = { snapshotId: newSnapshotId(), trigger };
    const name = snapshotFileName({ ...mark, time: Date.now() });
    let from = view.length;
    const path = await writeSnapshotFileFrom(dir, name, async (append) => {
      await append(REQUEST_PREFIX);
      let bytes = 0;
      let size = SLICE_SPANS;
      while (from > 0) {
        const start = Math.max(0, from - size);
        const items = serializeResourceSpansItems(
          view.spans(start, from).map((span) => markSpan(span, mark)),
        );
        const cost = items.byteLength + (bytes > 0 ? ITEM_SEPARATOR.byteLength : 0);
        if (bytes + cost > budget) {
          // Not the whole slice: perhaps its newer part.
          if (from - start === 1) break;
          size = Math.ceil((from - start) / 2);
          continue;
        }
        if (items.byteLength > 0) {
          if (bytes > 0) await append(ITEM_SEPARATOR);
          await append(items);
          bytes += cost;
        }
        from = start;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await append(REQUEST_SUFFIX);
    });
    return { path, spans: view.length - from, left: from + (view.omitted ?? 0) };
  });
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
 * written is ignored, and so is one while the recorder shuts down. How each
 * went is reported through `diag`, or on stderr without a logger; the process is
 * never harmed. Returns the function that removes the listener.
 */
export function installSnapshotSignal(
  recorder: SnapshotSource,
  signal: string,
  dir: SnapshotDirOptions,
): () => void {
  let busy = false;
  const listener = (): void => {
    if (recorder._shuttingDown?.() === true) {
      // Still listening, so the signal does not end the process while the
      // recorder's last exports are on their way.
      report('warn', `otel-flight-recorder: ${signal} ignored: the recorder is shutting down`);
      return;
    }
    if (busy) {
      report(
        'warn',
        `otel-flight-recorder: ${signal} ignored: the previous snapshot is still being written`,
      );
      return;
    }
    busy = true;
    writeSnapshotToDirectory(recorder, dir, SIGNAL_TRIGGER).then(
      ({ path, spans, left }) => {
        busy = false;
        if (left === 0) {
          // An empty file in an incident needs its reason beside it.
          const why = spans === 0 ? ' (the window is empty: flushed spans leave it)' : '';
          report(
            'info',
            `otel-flight-recorder: ${signal}: snapshot of ${spans} spans written to ${path}${why}`,
          );
          return;
        }
        const max = dir.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
        report(
          'warn',
          `otel-flight-recorder: ${signal}: snapshot of ${spans} spans written to ${path} (the oldest ${left} spans left out: a snapshot file holds at most maxTotalBytes (${max}) of JSON)`,
        );
      },
      (error: unknown) => {
        busy = false;
        report('error', `otel-flight-recorder: ${signal}: snapshot not written: ${String(error)}`);
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

import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodeRecord } from '../export/span-decoder.js';
import { type FlushMark, markSpan, newSnapshotId } from '../marks.js';
import type { SnapshotResult } from '../options.js';
import type { RecordRun } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import {
  ITEM_SEPARATOR,
  REQUEST_PREFIX,
  REQUEST_SUFFIX,
  serializeResourceSpansItems,
} from '../export/otlp-json.js';

/** Spans serialized per slice; the event loop runs between slices. */
export const SLICE_SPANS = 512;

/** The trigger a snapshot's spans carry unless the caller names another. */
export const SNAPSHOT_TRIGGER = 'snapshot';

/** The error code of the error a concurrent {@link writeWindowSnapshot} rejects with. */
export const SNAPSHOT_IN_PROGRESS = 'ERR_FLIGHT_RECORDER_SNAPSHOT_IN_PROGRESS';

/** Options of `FlightRecorderSpanProcessor.writeSnapshot`. */
export interface WriteSnapshotOptions {
  /**
   * The `flight_recorder.trigger` every span of the snapshot carries.
   * The default is `snapshot`.
   */
  trigger?: string;
  /**
   * When true, the stream is ended after the snapshot and the promise waits
   * for it to finish. The default is `false`: like Go's `WriteTo`, the
   * stream is left open and stays the caller's to end.
   */
  end?: boolean;
}

/** What `FlightRecorderSpanProcessor.writeSnapshot` resolves to. */
export interface SnapshotWriteResult extends SnapshotResult {
  /** The bytes written: one OTLP/HTTP JSON `ExportTraceServiceRequest` body. */
  bytes: number;
}

/** Told what a snapshot holds after the window is taken and before the first byte is written. */
export type SnapshotBeginListener = (info: {
  snapshotId: string;
  trigger: string;
  time: number;
  spans: number;
}) => void;

/** The part of the recorder a snapshot needs. */
/** The window as a snapshot writer reads it: a copy, decoded a slice at a time. */
export interface WindowView {
  readonly length: number;
  /** Spans `[from, to)` of the window, oldest first. */
  spans(from: number, to: number): ReadableSpan[];
  /** Spans of the window left out of the view (one taken within a byte budget). */
  readonly omitted?: number;
}

export interface SnapshotSource {
  _windowSpans(): ReadableSpan[];
  /**
   * Preferred when present: the window without decoding all of it at once;
   * with `maxBytes`, only its newest spans within that many bytes of OTLP
   * protobuf.
   */
  _windowView?(maxBytes?: number): WindowView;
  /** Whether the source has begun to shut down (its window is gone). */
  _shuttingDown?(): boolean;
}

/** A run's records as spans, decoded a slice at a time; `omitted` counts those left out. */
export function runView(run: RecordRun, table: ResourceScopeTable, omitted = 0): WindowView {
  return {
    length: run.length,
    omitted,
    spans(from: number, to: number): ReadableSpan[] {
      const spans: ReadableSpan[] = [];
      for (let k = from; k < to && k < run.entries; k++) {
        spans.push(decodeRecord(run, run.slot(k), table, false));
      }
      return spans;
    },
  };
}

/** The window of `source`; with `maxBytes`, its newest spans within that many bytes of OTLP protobuf. */
export function viewOf(source: SnapshotSource, maxBytes?: number): WindowView {
  if (source._windowView !== undefined) return source._windowView(maxBytes);
  const spans = source._windowSpans();
  return { length: spans.length, spans: (from, to) => spans.slice(from, to) };
}

/** What a stream reports through its callbacks and events while a snapshot is written to it. */
interface StreamState {
  error: Error | undefined;
  wake: (() => void) | undefined;
}

// Recorders with a snapshot write under way: one at a time each, as with Go's WriteTo.
const writing = new WeakSet<SnapshotSource>();

/**
 * The error a snapshot write rejects with when another one is under way on
 * the same recorder. Its `code` is {@link SNAPSHOT_IN_PROGRESS}.
 */
export class SnapshotInProgressError extends Error {
  readonly code = SNAPSHOT_IN_PROGRESS;
  constructor() {
    super(
      'otel-flight-recorder: a snapshot is already being written by this recorder; only one writeSnapshot runs at a time',
    );
    this.name = 'SnapshotInProgressError';
  }
}

/**
 * Writes the recorder's current window to `stream` as one OTLP/HTTP JSON
 * `ExportTraceServiceRequest` body, a slice of spans at a time, waiting for
 * `'drain'` when the stream asks and letting the event loop run between
 * slices. The window is read once at the start and neither exported nor
 * removed from the buffer. Every span carries a new snapshot id and the
 * trigger. Rejects with {@link SnapshotInProgressError} while another write
 * runs for the same recorder, and with the stream's error if it fails or
 * closes early; the recorder is unaffected either way.
 */
export function writeWindowSnapshot(
  source: SnapshotSource,
  stream: NodeJS.WritableStream,
  options: WriteSnapshotOptions = {},
  onBegin?: SnapshotBeginListener,
): Promise<SnapshotWriteResult> {
  return exclusiveSnapshot(source, async () => {
    const trigger = options.trigger ?? SNAPSHOT_TRIGGER;
    if (typeof trigger !== 'string' || trigger === '') {
      throw new TypeError(`Expected \`trigger\` to be a non-empty string, got ${String(trigger)}`);
    }
    const spans = viewOf(source);
    const mark: FlushMark = { snapshotId: newSnapshotId(), trigger };
    onBegin?.({ ...mark, time: Date.now(), spans: spans.length });
    const { bytes, traces } = await writeSpans(stream, spans, mark, options.end === true);
    return { ...mark, spans: spans.length, traces, bytes };
  });
}

/**
 * Runs `write` as the one snapshot write of `source`: rejects with
 * {@link SnapshotInProgressError} while another runs.
 */
export async function exclusiveSnapshot<T>(
  source: SnapshotSource,
  write: () => Promise<T>,
): Promise<T> {
  if (writing.has(source)) throw new SnapshotInProgressError();
  writing.add(source);
  try {
    return await write();
  } finally {
    writing.delete(source);
  }
}

async function writeSpans(
  stream: NodeJS.WritableStream,
  spans: WindowView,
  mark: FlushMark,
  end: boolean,
): Promise<{ bytes: number; traces: number }> {
  const state: StreamState = { error: undefined, wake: undefined };
  const fail = (error: Error): void => {
    state.error ??= error;
    state.wake?.();
  };
  const onError = (error: unknown): void => {
    fail(error instanceof Error ? error : new Error(String(error)));
  };
  const onClose = (): void => {
    fail(new Error('otel-flight-recorder: the stream closed before the snapshot was written'));
  };
  const onDrain = (): void => state.wake?.();
  stream.on('error', onError);
  stream.on('close', onClose);
  stream.on('drain', onDrain);
  try {
    let bytes = 0;
    let needDrain = false;
    const write = (chunk: Uint8Array): void => {
      bytes += chunk.length;
      if (!stream.write(chunk, (error) => error && onError(error))) needDrain = true;
    };
    const traces = new Set<string>();
    write(REQUEST_PREFIX);
    let first = true;
    for (let i = 0; i < spans.length; i += SLICE_SPANS) {
      const slice = spans.spans(i, i + SLICE_SPANS);
      const marked = new Array<ReadableSpan>(slice.length);
      for (let k = 0; k < slice.length; k++) {
        marked[k] = markSpan(slice[k]!, mark);
        traces.add(slice[k]!.spanContext().traceId);
      }
      const items = serializeResourceSpansItems(marked);
      if (items.length > 0) {
        if (!first) write(ITEM_SEPARATOR);
        first = false;
        write(items);
      }
      // Backpressure first; then yield anyway, so a large window never blocks
      // the loop: to a fast reader on loopback, 'drain' comes from
      // process.nextTick, and waiting for it alone never gave the loop a turn.
      if (needDrain) await wait(state, undefined);
      needDrain = false;
      await wait(state, setImmediate);
    }
    bytes += REQUEST_SUFFIX.length;
    // Done once the last chunk is flushed (or, with `end`, the stream has finished).
    await wait(state, (wake) => {
      const done = (error?: Error | null): void => (error ? onError(error) : wake());
      if (end) (stream.end as (chunk: Uint8Array, cb: typeof done) => void)(REQUEST_SUFFIX, done);
      else stream.write(REQUEST_SUFFIX, done);
    });
    return { bytes, traces: traces.size };
  } finally {
    stream.removeListener('error', onError);
    stream.removeListener('close', onClose);
    stream.removeListener('drain', onDrain);
    if (state.error !== undefined && stream.listenerCount('error') === 0) {
      // A late error on a stream nobody else listens to must not crash the host.
      stream.once('error', () => {});
    }
  }
}

/**
 * Waits until `start` calls back (or, without `start`, for 'drain'), or the
 * stream fails; rejects with the stream's error.
 */
function wait(state: StreamState, start: ((wake: () => void) => void) | undefined): Promise<void> {
  if (state.error !== undefined) return Promise.reject(state.error);
  return new Promise<void>((resolve, reject) => {
    let done = false;
    // Each wait has its own wake, so a late callback of an earlier wait cannot end this one.
    const wake = (): void => {
      if (done) return;
      done = true;
      if (state.wake === wake) state.wake = undefined;
      if (state.error !== undefined) reject(state.error);
      else resolve();
    };
    state.wake = wake;
    start?.(wake);
  });
}

import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { CoordinationOptions } from './coordination/options.js';

/** A built-in trigger: a slow local root (`latency`) or one that ended with status ERROR (`error`). */
export type BuiltInTrigger = 'latency' | 'error';

/**
 * A latency threshold that follows each route: `'p99'` triggers a local root
 * slower than the recent 99th percentile of roots of the same name.
 */
export type LatencyPercentile = `p${number}`;

/**
 * What a flush exports: `window` sends every buffered span (what the whole
 * process was doing), `trace` only the spans of the triggering trace.
 */
export type FlushScope = 'window' | 'trace';

/**
 * Options of {@link FlightRecorderSpanProcessor}. A value set here wins over
 * the environment variable named with it, which wins over the default.
 */
export interface FlightRecorderOptions {
  /**
   * Where flushed spans go. The default is OTLP/HTTP protobuf: the spans'
   * bytes, as recorded, go through the SDK's own OTLP/HTTP transport, which
   * reads `OTEL_EXPORTER_OTLP_*` (endpoint, headers, compression, timeout;
   * it retries). `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (or
   * `OTEL_EXPORTER_OTLP_PROTOCOL`) set to `http/json` uses the SDK's JSON
   * exporter instead, and `grpc` its gRPC exporter when the app has
   * `@opentelemetry/exporter-trace-otlp-grpc`. An exporter passed here gets
   * the flushed spans decoded, batch by batch. The recorder shuts it down on
   * {@link FlightRecorderSpanProcessor.shutdown}. Code only.
   */
  exporter?: SpanExporter;
  /**
   * A local root span that lasts longer than this triggers a `latency` flush.
   * Unit: milliseconds, at most 2147483647 (what a timer holds). Or a
   * percentile, `'p'` and a number above 0 and below 100 with up to three decimals
   * (such as `'p99'` or `'p99.9'`): a root triggers when
   * it is slower than the recent percentile of the roots with its name (its
   * route), over the last 2.5 to 5 minutes, within 2%; a route with too few
   * samples yet uses `latencyFloorMs`. 64 routes get their own percentile,
   * the rest share one. `stats().latencyThresholdsMs` shows the thresholds.
   * Env: `FLIGHT_RECORDER_LATENCY_THRESHOLD_MS` (`500`, `p99`).
   * The default is 500 ms.
   */
  latencyThresholdMs?: number | LatencyPercentile;
  /**
   * With a percentile `latencyThresholdMs`, the threshold of a route until
   * it has enough samples for its percentile (at least 50, and 200 for
   * p99). Unit: milliseconds. Env: `FLIGHT_RECORDER_LATENCY_FLOOR_MS`.
   * The default is 500 ms.
   */
  latencyFloorMs?: number;
  /**
   * The flush budget: how many traces triggers may flush per second, as a
   * token bucket holding 2 seconds' worth (a burst of 20 at the default).
   * While more than half the burst is left a trigger flushes at once;
   * below that, triggers are collected for 200 ms and the errors, then the
   * slowest roots, flush first; the others are counted in
   * `stats().triggersSuppressed` and their spans stay in the buffer.
   * Window flushes keep `minFlushIntervalMs`. Unit: traces per second, an
   * integer. Env: `FLIGHT_RECORDER_MAX_TRACES_PER_SECOND`. The default is 10.
   */
  maxTracesPerSecond?: number;
  /**
   * The built-in triggers that are on. An empty list means manual
   * {@link FlightRecorderSpanProcessor.snapshot} (and `shouldTrigger`) only.
   * Env: `FLIGHT_RECORDER_TRIGGERS`, a comma list of `latency` and `error`,
   * or `none`. The default is `['latency', 'error']`.
   */
  triggers?: readonly BuiltInTrigger[];
  /**
   * A custom trigger, called with every span that ends. Return a trigger name
   * to flush that span's trace (and the window), or `undefined`. It must be
   * cheap: it runs on the hot path. The name is the flush's
   * `flight_recorder.trigger` and its key in `stats().triggers`: keep names
   * few (`not-found`, not `not-found /users/42`). If it throws, the span
   * does not trigger and one warning is logged. Code only. The default is
   * none.
   */
  shouldTrigger?: (span: ReadableSpan) => string | undefined;
  /**
   * How long a span stays buffered after it ends, unless its trace's local
   * root is still open. Unit: milliseconds, at most 2147483647.
   * Env: `FLIGHT_RECORDER_MIN_AGE_MS`. The default is 10000 ms.
   */
  minAgeMs?: number;
  /**
   * The memory the recorder's ring takes, exactly: the encoded spans plus
   * their index, in one preallocated `ArrayBuffer`. When it is full the
   * oldest spans are overwritten, pinned or not. Spans waiting for
   * export are bounded by the same number again (64 KiB at least). Unit: bytes, an integer
   * from 1024 (a few spans: less is a mistake of unit, refused) to
   * 1073741824 (1 GiB: the buffer is meant to be one ArrayBuffer).
   * Env: `FLIGHT_RECORDER_MAX_BYTES`. The default is 16777216 (16 MiB).
   */
  maxBytes?: number;
  /**
   * What a trigger exports. Env: `FLIGHT_RECORDER_FLUSH_SCOPE`.
   * The default is `'window'`.
   */
  flushScope?: FlushScope;
  /**
   * Window flushes happen at most once in this interval; a trigger within it
   * exports only its own trace. Unit: milliseconds, at most 2147483647.
   * Env: `FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS`. The default is 60000 ms.
   */
  minFlushIntervalMs?: number;
  /**
   * The longest a trace flush waits for its export call. The first flush
   * starts the wait, and every trace flushed during it joins the same call
   * (a full batch goes sooner), as BatchSpanProcessor's
   * `scheduledDelayMillis` paces its spans: in a storm the recorder makes no
   * more export calls than BatchSpanProcessor would for the same spans.
   * Window flushes, and flushes another service asks for, go at once.
   * 0 exports each trace flush at once, in a call of its own. Unit:
   * milliseconds, at most 2147483647.
   * Env: `FLIGHT_RECORDER_EXPORT_DELAY_MS`. The default is 5000 ms.
   */
  exportDelayMs?: number;
  /**
   * The most spans handed to the exporter in one call (and the most log
   * records in one logs call); a batch is smaller when it reaches
   * `maxExportBatchBytes` first, or when its spans are slow to serialize
   * (about 5 ms of work each). Larger than `BatchSpanProcessor`'s 512: a
   * flush sends thousands of spans at once, and each request costs about
   * as much CPU as 250 spans. Unit: spans, an integer from 1.
   * Env: `FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE`. The default is 2048.
   */
  maxExportBatchSize?: number;
  /**
   * The most bytes of one export call's request, as OTLP protobuf on the
   * wire (before any gzip): the spans (or log records) with their flush's
   * marks, and the resource and scope headers. A record
   * larger than this goes alone. The default keeps requests far below the
   * Collector's limits (20 MiB over OTLP/HTTP, 4 MiB over gRPC), also as
   * JSON. Unit: bytes, an integer from 1 to 1073741824.
   * Env: `FLIGHT_RECORDER_MAX_EXPORT_BATCH_BYTES`. The default is 1048576
   * (1 MiB).
   */
  maxExportBatchBytes?: number;
  /**
   * How long one export call may take before it counts as failed and the
   * next batch may go. Also bounds how long `shutdown` waits. Unit:
   * milliseconds, at least 1 and at most 2147483647 (what a timer holds).
   * Env: `FLIGHT_RECORDER_EXPORT_TIMEOUT_MS`. The default is 30000 ms.
   */
  exportTimeoutMs?: number;
  /**
   * Set when another processor already exports sampled spans, such as a
   * BatchSpanProcessor behind a head sampler: the recorder then buffers and
   * exports only spans the sampler did not sample, so nothing reaches the
   * backend twice. Sampled spans still trigger flushes.
   * Env: `FLIGHT_RECORDER_SKIP_SAMPLED=true`. The default is `false`.
   */
  skipSampled?: boolean;
  /**
   * Called after each flush has moved its spans to the export queue, with
   * what it took. It runs inside the `onEnd` that triggered the flush, so it
   * must be cheap; if it throws, one warning is logged. It runs with tracing
   * suppressed, as exporters do: spans started in it (an alert sent over
   * instrumented HTTP) are not recorded, nor are those of work it starts
   * that runs later, and its requests carry no trace headers. Code only.
   * The default is none.
   */
  onFlush?: (flush: FlushInfo) => void;
  /**
   * Records GC pauses (`PerformanceObserver` `'gc'` entries) and event-loop
   * stalls into a ring of their own (80 KiB), and adds them to flushes: each
   * pause or stall that overlapped a flushed span becomes a child span of the
   * innermost such span (`gc (major)`, `event loop blocked`, marked
   * `flight_recorder.runtime=true`; the span was affected by it, not
   * necessarily its cause), and a window flush also exports a
   * `process runtime` trace of the window's pauses, heap and event-loop
   * utilization. See docs/runtime-events.md.
   * Env: `FLIGHT_RECORDER_RUNTIME_EVENTS=false`. The default is `true`.
   */
  runtimeEvents?: boolean;
  /**
   * An event loop blocked for this long or longer is recorded as a stall.
   * Unit: milliseconds, at least 20 (the detector's timer ticks every half
   * threshold, and at most every 10 ms) and at most 2147483647.
   * Env: `FLIGHT_RECORDER_STALL_THRESHOLD_MS`. The default is 50 ms.
   */
  stallThresholdMs?: number;
  /**
   * A stall this long or longer triggers `event-loop-stall`: a window flush,
   * asked of the trigger policy like any trigger and at most once per
   * `minFlushIntervalMs`. 0 turns it off. Unit: milliseconds, at most
   * 2147483647. Env: `FLIGHT_RECORDER_STALL_TRIGGER_MS`. The default is 1000 ms.
   */
  stallTriggerMs?: number;
  /**
   * When true the recorder records and exports nothing.
   * Env: `FLIGHT_RECORDER_DISABLED=true`. The default is `false`.
   */
  disabled?: boolean;
  /**
   * A signal that makes the recorder write a snapshot file of its window
   * (trigger `signal`) to `snapshotDir` each time the process receives it,
   * for example `'SIGUSR2'`: `kill -USR2 <pid>`. One of SIGUSR2, SIGHUP,
   * SIGQUIT, SIGINFO or SIGPWR, where the platform has it; listening for it
   * replaces its default action, which is to end the process. SIGUSR1 is
   * refused (Node's debugger uses it), as are SIGINT and SIGTERM.
   * Env: `FLIGHT_RECORDER_SNAPSHOT_SIGNAL`. The default is none (off).
   */
  snapshotSignal?: string;
  /**
   * The directory signal snapshots and crash dumps are written to, created
   * when missing. A relative path is resolved against `process.cwd()`. It
   * keeps at most 100 files and 256 MiB; the oldest go first.
   * Env: `FLIGHT_RECORDER_SNAPSHOT_DIR`. The default is
   * `'flight-recorder-snapshots'`.
   */
  snapshotDir?: string;
  /**
   * The crash black box. When true, the recorder tracks the spans still open
   * and, when an uncaught exception (or an unhandled rejection that Node
   * turns into one) reaches the process, synchronously writes the window and
   * the open spans to `snapshotDir` (trigger `crash`). Open spans are
   * written as ended at the crash, with `flight_recorder.unfinished=true`,
   * and the exception is recorded on the innermost one. It only observes
   * (`uncaughtExceptionMonitor`): the process ends, or the app's handler
   * runs, exactly as without it. Costs a Set insert and delete per span.
   * Env: `FLIGHT_RECORDER_CRASH_DUMP=true`. The default is `false`.
   */
  crashDump?: boolean;
  /**
   * The memory the log ring of {@link FlightRecorderSpanProcessor.logRecordProcessor}
   * takes, exactly: encoded log records plus their index, preallocated when
   * the log processor is made. When it is full the oldest records go. Log
   * records waiting for export are bounded by the same number again. Unit:
   * bytes, an integer from 1024 to 1073741824 (1 GiB).
   * Env: `FLIGHT_RECORDER_LOG_MAX_BYTES`. The default is 4194304 (4 MiB).
   */
  logMaxBytes?: number;
  /**
   * How long a log record stays buffered after it was emitted. Longer than
   * `minAgeMs` by default, because a request's first log lines come up to
   * the request's duration before its spans end. Unit: milliseconds, at most
   * 2147483647. Env: `FLIGHT_RECORDER_LOG_MIN_AGE_MS`. The default is 30000 ms.
   */
  logMinAgeMs?: number;
  /**
   * A log record whose encoding is larger than this (or than a quarter of
   * the log ring) is not buffered: it is sent at once, unmarked, and counted
   * in `logsOversize`. Unit: bytes, an integer of at most 1073741824.
   * Env: `FLIGHT_RECORDER_LOG_MAX_RECORD_BYTES`. The default is 16384 (16 KiB).
   */
  logMaxRecordBytes?: number;
  /**
   * Log records at or above this severity are also sent at once, unmarked,
   * as a normal log pipeline would (a flush does not send them again); they
   * stay buffered for snapshots. `'off'` sends nothing at once.
   * Env: `FLIGHT_RECORDER_LOG_PASS_THROUGH_SEVERITY`. The default is `'warn'`.
   */
  logPassThroughSeverity?: LogSeverityName;
  /**
   * When true, a log record at ERROR or above emitted inside a trace
   * triggers `error-log` for that trace, through the same trigger policy
   * (and flush budget) as span triggers.
   * Env: `FLIGHT_RECORDER_FLUSH_ON_ERROR_LOG`. The default is `true`.
   */
  flushOnErrorLog?: boolean;
  /**
   * When true, a flush also writes each of its log records as an event on
   * the span that was active when the record was emitted, if that span is
   * in the flush, so backends without OTLP logs (Jaeger) show the lines in
   * the span's logs. The records still go to OTLP logs too, once.
   * Env: `FLIGHT_RECORDER_LOGS_AS_SPAN_EVENTS`. The default is `true`.
   */
  logsAsSpanEvents?: boolean;
  /**
   * Shares the keep decision with the other services of a request over Redis
   * pub/sub: each trigger publishes the trace id, and the services that hold
   * spans of that trace flush them under the same snapshot id, so the trace
   * arrives whole (see docs/coordination.md). Needs the optional peer
   * dependency `redis`; without this option and without
   * `FLIGHT_RECORDER_REDIS_URL`, no client is loaded. Code only (the
   * variable turns it on without code). The default is none (off;
   * `FLIGHT_RECORDER_REDIS_URL` turns it on).
   */
  coordination?: CoordinationOptions;
}

/**
 * Options of {@link FlightRecorderSpanProcessor.logRecordProcessor}, read on
 * its first call (a later call with other options warns once). Checked as
 * the recorder's own: a bad value throws a TypeError, an unknown key warns.
 */
export interface LogRecordProcessorOptions {
  /**
   * When false, log records are never sent over OTLP logs (no flush, no
   * pass-through): they only appear as span events of flushed spans
   * (`logsAsSpanEvents`) and in snapshots, for an app without a logs
   * pipeline (spans written to files, say). Code only. The default is `true`.
   */
  exportLogs?: boolean;
}

/** A severity level, by name, for {@link FlightRecorderOptions.logPassThroughSeverity}. */
export type LogSeverityName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'off';

/** The log processor's part of {@link FlightRecorderStats}; all 0 until `logRecordProcessor()` is called. */
export interface LogStats {
  /** Log records in the log buffer now. */
  bufferedLogs: number;
  /** Encoded bytes of the buffered log records now. */
  bufferedLogBytes: number;
  /** Log records that reached `onEmit` and were recorded (buffered, or sent at once as late records of a flushed trace). */
  logsRecorded: number;
  /** Log records discarded because they were older than `logMinAgeMs`. */
  logsEvictedByAge: number;
  /** Log records discarded to keep the log buffer under `logMaxBytes`. */
  logsEvictedByBytes: number;
  /** Log records the logs exporter accepted. */
  logsExported: number;
  /**
   * Log records lost: meant for export but never got there (queue overflow,
   * failed or timed-out exports, shutdown), or never recorded (their encoding
   * threw, a getter in the body say; larger than `logMaxBytes`; no room in
   * the resource and scope table).
   */
  logsDropped: number;
  /** Log records larger than `logMaxRecordBytes`, sent at once instead of buffered. */
  logsOversize: number;
  /** Log records a flush also wrote as events on the span they were emitted in (`logsAsSpanEvents`). */
  logsAsSpanEvents: number;
}

/** The options with every default applied; derived from the options table in `config.ts`. */
export type { ResolvedOptions } from './config.js';

/** What {@link FlightRecorderSpanProcessor.stats} reports. Counters only grow. */
export interface FlightRecorderStats extends LogStats {
  /** Spans in the buffer now. */
  bufferedSpans: number;
  /**
   * Encoded bytes of the buffered spans now, exactly (the ring's records; the
   * ring and its index together take `maxBytes`).
   */
  bufferedBytes: number;
  /** Spans waiting for export now. */
  queuedSpans: number;
  /** Encoded bytes of the spans waiting for export now. */
  queuedBytes: number;
  /** Spans that reached `onEnd` and were recorded. */
  spansRecorded: number;
  /** Spans discarded because they were older than `minAgeMs`. */
  spansEvictedByAge: number;
  /** Spans discarded to keep the buffer under `maxBytes`. */
  spansEvictedByBytes: number;
  /**
   * Flushes by trigger (`latency`, `error`, `manual` or a custom name); the
   * first 64 names are counted apart, later ones under `other`.
   */
  triggers: Record<string, number>;
  /**
   * Triggers the flush budget did not flush, by reason: their spans stayed
   * in the buffer (see `maxTracesPerSecond`). Bounded as `triggers` is.
   */
  triggersSuppressed: Record<string, number>;
  /**
   * What the recorder considers slow now, in ms, by local-root span name:
   * each route's percentile threshold (its floor until it has enough
   * samples; `*` for the routes past the cap), or `{ '*': ms }` for a fixed
   * threshold; empty when the `latency` trigger is off.
   */
  latencyThresholdsMs: Record<string, number>;
  /** Flushes made (each has its own snapshot id). */
  flushes: number;
  /** Spans of flushed traces that ended after their flush and were exported as they ended. */
  spansLate: number;
  /** Spans the exporter accepted. */
  spansExported: number;
  /** Spans meant for export that never got there: queue overflow, failed or timed-out exports, shutdown. */
  spansDropped: number;
  /** Export calls that failed or timed out. */
  exportFailures: number;
  /** GC pauses recorded (`runtimeEvents`). */
  gcPausesRecorded: number;
  /** Event-loop stalls of at least `stallThresholdMs` recorded (`runtimeEvents`). */
  stallsRecorded: number;
  /** Spans made from runtime events and attached to flushed traces (the runtime track not counted). */
  runtimeEventsAttached: number;
  /** Coordination: triggers of this service published to Redis. */
  remoteTriggersPublished: number;
  /** Coordination: triggers that could not be published (Redis away, too many in flight). */
  remotePublishFailures: number;
  /** Coordination: messages received on the channel, whatever they held. */
  remoteTriggersReceived: number;
  /** Coordination: remote triggers that flushed spans this service held. */
  remoteFlushes: number;
  /** Coordination: messages ignored: malformed or foreign, of another version, this process's own, or a trace already acted on. */
  remoteTriggersIgnored: number;
  /** Coordination: remote triggers refused by `remoteFlushesPerSecond`. */
  remoteTriggersRefused: number;
}

/** What {@link FlightRecorderSpanProcessor.snapshot} resolves to once the flush is exported. */
export interface SnapshotResult {
  /** The `flight_recorder.snapshot.id` carried by every span of this flush. */
  snapshotId: string;
  /** The `flight_recorder.trigger` carried by every span of this flush. */
  trigger: string;
  /**
   * How many spans this flush exports: those it took from the buffer, and
   * those it added (GC pauses and stalls, the runtime track).
   */
  spans: number;
  /** How many distinct traces those spans belong to. */
  traces: number;
}

/** What {@link FlightRecorderOptions.onFlush} is told about a flush. */
export interface FlushInfo extends SnapshotResult {
  /** The trace whose span triggered the flush; undefined for a manual snapshot. */
  traceId: string | undefined;
  /** `window` when the flush took the whole buffer, `trace` when only the triggering trace. */
  scope: FlushScope;
  /** How many log records the flush took from the log processor's buffer; 0 without one. */
  logs: number;
}

import { constants } from 'node:os';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { CoordinationOptions } from './coordination/options.js';
import type { RedisClientLike } from './coordination/redis-link.js';
import { redactUrl } from './coordination/redact.js';
import type { FileSpanExporterOptions, SnapshotFileWrite } from './export/file-span-exporter.js';
import type {
  BuiltInTrigger,
  FlightRecorderOptions,
  FlushInfo,
  FlushScope,
  LatencyPercentile,
  LogRecordProcessorOptions,
  LogSeverityName,
} from './options.js';
import {
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_TOTAL_BYTES,
  DEFAULT_SNAPSHOT_DIR,
} from './snapshot/snapshot-files.js';
import { MAX_TIMER_MS } from './timer.js';

// The one table of options. Each row says everything about one option: its
// environment variable, how the variable's text is read, what a valid value
// is, its default, unit and meaning. The recorder, the file exporter and the
// CLI read options from it; the docs' options tables are generated from it and
// a test holds the TSDoc defaults to it. Adding an option is adding a row.
// It does no I/O and loads nothing of OpenTelemetry at run time, so the CLI
// reads it too.

type Env = Readonly<Record<string, string | undefined>>;

/** One option. `T` is the type the option has once resolved. */
export interface Option<T> {
  /** Its environment variable; none for code-only options. */
  readonly env?: string;
  /** Reads the variable's text; undefined when the text is not a value of this option. */
  parse?(raw: string): T | undefined;
  /** Undefined when `value` is valid; else what was expected, for the error or warning. */
  check(value: unknown): string | undefined;
  /** What the variable accepts, said in warnings when the text is not valid; else what `check` says. */
  readonly envExpected?: string;
  /** Applied to every valid value, from code or environment (such as removing duplicates). */
  normalize?(value: T): T;
  readonly default: T;
  /** For the docs: the value's type, as a user writes it. */
  readonly type: string;
  /** For the docs and the TSDoc check: `ms`, `bytes`, `spans`, `files`. */
  readonly unit?: string;
  /** For the docs: one line on what it does. */
  readonly meaning: string;
  /** For the docs and the TSDoc check, when the default value does not show itself (a function, an object). */
  readonly shownDefault?: string;
  /** How a value (or the variable's text) reads in errors and warnings, when it may hold a secret. */
  redact?(value: unknown): string;
}

/** A table of options, keyed by option name. */
export type OptionTable = { readonly [name: string]: Option<unknown> };

/** The options of a table once resolved: each one's type, defaults applied. */
export type Resolved<Table> = {
  -readonly [K in keyof Table]: Table[K] extends Option<infer T> ? T : never;
};

/**
 * The longest duration an option may be: the longest delay a Node timer keeps
 * (`setTimeout` turns anything longer into 1 ms), about 24.8 days.
 */
export const MAX_DURATION_MS = MAX_TIMER_MS;
/**
 * The most bytes the recorder's buffer may hold, 1 GiB: it is meant to become
 * one ArrayBuffer, and a ring that large is far past any sensible window.
 */
export const MAX_BUFFER_BYTES = 2 ** 30;
/**
 * The least a buffer may be, 1 KiB: a few small records (a typical span's
 * is 200 to 500 bytes). Much below it a buffer records nothing, and a value
 * that small is a mistake of unit (`FLIGHT_RECORDER_MAX_BYTES=16`, meant as
 * MiB): refused, not obeyed.
 */
export const MIN_BUFFER_BYTES = 1024;
/** The most a count may be: it must index a typed array (int32). */
export const MAX_COUNT = 2 ** 31 - 1;

/** A value as it reads in an error or a warning. */
export function describe(value: unknown): string {
  if (value === undefined) return 'none';
  if (typeof value === 'string' || Array.isArray(value)) return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}

// The environment rule for every number, from the OpenTelemetry spec: a
// decimal integer, nothing else. `0x10`, ` 5 `, `1e3`, `5.0`, `+5`, `-1` and
// integers past 2^53 are not values; they warn, and the default applies.
const DECIMAL = /^[0-9]+$/;
export function decimalInteger(raw: string): number | undefined {
  if (!DECIMAL.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A duration in milliseconds: a finite number from `min` up to what a timer holds. */
export function duration(min: number) {
  const range = `>= ${min} and <= ${MAX_DURATION_MS}`;
  return {
    parse: decimalInteger,
    check: (v: unknown) =>
      isNumber(v) && v >= min && v <= MAX_DURATION_MS ? undefined : `a finite number ${range}`,
    envExpected: `a decimal integer ${range}`,
    type: 'number',
    unit: 'ms',
  };
}

/** A whole number from 1 to `max`, of `unit`. */
export function integer(unit: string, max: number, min = 1) {
  const range = `>= ${min} and <= ${max}`;
  return {
    parse: decimalInteger,
    check: (v: unknown) =>
      Number.isInteger(v) && (v as number) >= min && (v as number) <= max
        ? undefined
        : `an integer ${range}`,
    envExpected: `a decimal integer ${range}`,
    type: 'integer',
    unit,
  };
}

/** `p99`, `p99.9`: a percentile above 0 and below 100, as `latencyThresholdMs` takes it. */
const PERCENTILE = /^p(\d{1,2}(\.\d{1,3})?)$/;
export function isPercentile(v: unknown): v is LatencyPercentile {
  if (typeof v !== 'string') return false;
  const m = PERCENTILE.exec(v);
  return m !== null && Number(m[1]) > 0;
}

/** A latency threshold: a duration in ms, or a percentile of each route's recent roots. */
const latencyThreshold = {
  parse: (raw: string): number | LatencyPercentile | undefined => {
    const v = raw.trim().toLowerCase();
    if (v.startsWith('p')) return isPercentile(v) ? v : undefined;
    return decimalInteger(raw);
  },
  check: (v: unknown) =>
    (isNumber(v) && v >= 0 && v <= MAX_DURATION_MS) || isPercentile(v)
      ? undefined
      : `a finite number >= 0 and <= ${MAX_DURATION_MS}, or a percentile above "p0" and below "p100", with up to 3 decimals (such as "p99")`,
  envExpected: `a decimal integer >= 0 and <= ${MAX_DURATION_MS}, or a percentile such as p99 (above p0, below p100)`,
  type: "number, or `'p99'` (a percentile)",
  unit: 'ms',
};

const boolean = {
  parse: (raw: string): boolean | undefined => {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    return undefined;
  },
  check: (v: unknown) => (typeof v === 'boolean' ? undefined : 'a boolean'),
  envExpected: 'true, false, 1 or 0',
  type: 'boolean',
};

function oneOf<T extends string>(names: readonly T[]) {
  const expected = `one of ${names.join(', ')}`;
  return {
    parse: (raw: string) => raw.trim().toLowerCase() as T,
    check: (v: unknown) => (names.includes(v as T) ? undefined : expected),
    type: names.map((n) => `\`'${n}'\``).join(' | '),
  };
}

const nonEmptyString = {
  // As every other variable: surrounding spaces are a slip (a blank value is then refused).
  parse: (raw: string) => raw.trim(),
  check: (v: unknown) => (typeof v === 'string' && v !== '' ? undefined : 'a non-empty string'),
  type: 'string',
};

function callback(signature: string) {
  return {
    check: (v: unknown) => (typeof v === 'function' ? undefined : 'a function'),
    type: `\`${signature}\``,
  };
}

const BUILT_IN_TRIGGERS: readonly BuiltInTrigger[] = ['latency', 'error'];
const FLUSH_SCOPES: readonly FlushScope[] = ['window', 'trace'];
const LOG_SEVERITIES: readonly LogSeverityName[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'off',
];

/**
 * The signals a snapshot may be bound to. Each is one an operator sends on
 * purpose and whose default action (ending the process) nothing else relies
 * on. Not SIGUSR1 (it starts Node's debugger), not SIGINT or SIGTERM (a
 * listener would stop them from ending the process), not signals the kernel
 * or Node itself raise (SIGPIPE, SIGCHLD, SIGSEGV...). Whether this platform
 * has the signal is checked when it is installed: code that names SIGUSR2 is
 * not wrong on Windows.
 */
const SNAPSHOT_SIGNALS: readonly string[] = ['SIGUSR2', 'SIGHUP', 'SIGQUIT', 'SIGINFO', 'SIGPWR'];

function checkSnapshotSignal(name: unknown): string | undefined {
  // What to pick from: the ones this platform has (SIGINFO is not on Linux).
  const here = SNAPSHOT_SIGNALS.filter((signal) => signal in constants.signals);
  const allowed = `one of ${here.join(', ')}`;
  if (name === 'SIGUSR1') {
    return `a signal other than SIGUSR1, which Node's debugger uses (${allowed})`;
  }
  if (typeof name !== 'string' || !SNAPSHOT_SIGNALS.includes(name)) {
    return `a signal that is safe to listen for (${allowed})`;
  }
  return undefined;
}

const SNAPSHOT_DIR = {
  parse: (raw: string) => raw,
  // Blank is a slip (`FLIGHT_RECORDER_SNAPSHOT_DIR=" "`), not a directory
  // anyone means to write to; other spaces in a path are the user's own.
  check: (v: unknown) =>
    typeof v === 'string' && v.trim() !== '' ? undefined : 'a path that is not blank',
  env: 'FLIGHT_RECORDER_SNAPSHOT_DIR',
  default: DEFAULT_SNAPSHOT_DIR,
  type: 'path',
};

/** Declares a row, so its value type is checked against its parser and default. */
export const option = <T>(row: Option<T>): Option<T> => row;

/** The options of {@link FlightRecorderSpanProcessor}. */
export const OPTIONS = {
  exporter: option<SpanExporter | undefined>({
    check: (v) =>
      v === undefined ||
      (v !== null &&
        typeof v === 'object' &&
        typeof (v as SpanExporter).export === 'function' &&
        typeof (v as SpanExporter).shutdown === 'function')
        ? undefined
        : 'a SpanExporter (with export and shutdown)',
    default: undefined,
    shownDefault: 'OTLP/HTTP protobuf',
    type: '`SpanExporter`',
    meaning:
      'where flushed spans go; the default sends the recorded bytes as they are, to where `OTEL_EXPORTER_OTLP_*` say (`http/json` or `grpc` when `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, or else `OTEL_EXPORTER_OTLP_PROTOCOL`, says); an exporter passed gets the spans decoded, and is shut down with the recorder',
  }),
  latencyThresholdMs: option<number | LatencyPercentile>({
    ...latencyThreshold,
    env: 'FLIGHT_RECORDER_LATENCY_THRESHOLD_MS',
    default: 500,
    meaning:
      "a local root lasting longer triggers `latency`; `'p99'`: longer than the recent p99 of the roots with its name (its route, when a framework's instrumentation names it)",
  }),
  latencyFloorMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_LATENCY_FLOOR_MS',
    default: 500,
    meaning:
      'with a percentile threshold, the threshold of a root name until it has enough samples',
  }),
  maxTracesPerSecond: option<number>({
    ...integer('traces/s', 1_000_000),
    env: 'FLIGHT_RECORDER_MAX_TRACES_PER_SECOND',
    default: 10,
    meaning:
      'the flush budget: trace flushes per second, with a burst of 2 s; errors, then the slowest, go first',
  }),
  triggers: option<readonly BuiltInTrigger[]>({
    env: 'FLIGHT_RECORDER_TRIGGERS',
    parse: (raw) => {
      const names = raw
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== '');
      if (names.length === 1 && names[0] === 'none') return [];
      return names.length === 0 ? undefined : (names as BuiltInTrigger[]);
    },
    check: (v) =>
      Array.isArray(v) && v.every((t) => BUILT_IN_TRIGGERS.includes(t))
        ? undefined
        : `an array of ${BUILT_IN_TRIGGERS.join(', ')}`,
    envExpected: `a comma list of ${BUILT_IN_TRIGGERS.join(', ')}, or none`,
    normalize: (v) => [...new Set(v)],
    default: ['latency', 'error'],
    type: "`('latency' | 'error')[]`; env: comma list or `none`",
    meaning: 'the built-in triggers that are on; none leaves `snapshot()` and `shouldTrigger`',
  }),
  shouldTrigger: option<((span: ReadableSpan) => string | undefined) | undefined>({
    ...callback('(span: ReadableSpan) => string | undefined'),
    default: undefined,
    meaning: 'a custom trigger checked on every ended span; return a trigger name to flush',
  }),
  minAgeMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_MIN_AGE_MS',
    default: 10_000,
    meaning: 'how long a span stays after it ends (longer while its local root is open)',
  }),
  maxBytes: option<number>({
    ...integer('bytes', MAX_BUFFER_BYTES, MIN_BUFFER_BYTES),
    env: 'FLIGHT_RECORDER_MAX_BYTES',
    default: 16 * 1024 * 1024,
    meaning: 'the most the buffer holds, oldest spans out first; 1 KiB to 1 GiB',
  }),
  flushScope: option<FlushScope>({
    ...oneOf(FLUSH_SCOPES),
    env: 'FLIGHT_RECORDER_FLUSH_SCOPE',
    default: 'window',
    meaning: 'a trigger exports the whole window, or only its trace',
  }),
  minFlushIntervalMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS',
    default: 60_000,
    meaning: 'at most one window flush per interval; other triggers export their own trace',
  }),
  exportDelayMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_EXPORT_DELAY_MS',
    default: 5_000,
    meaning:
      'how long a trace flush waits for its export call, so flushes close together share it; 0: at once',
  }),
  maxExportBatchSize: option<number>({
    ...integer('spans', MAX_COUNT),
    env: 'FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE',
    default: 2048,
    meaning: 'the most spans (or log records) per export call',
  }),
  maxExportBatchBytes: option<number>({
    ...integer('bytes', MAX_BUFFER_BYTES),
    env: 'FLIGHT_RECORDER_MAX_EXPORT_BATCH_BYTES',
    default: 1024 * 1024,
    meaning:
      'the most bytes of spans (or log records) per export call, as OTLP protobuf; a larger one goes alone',
  }),
  exportTimeoutMs: option<number>({
    ...duration(1),
    env: 'FLIGHT_RECORDER_EXPORT_TIMEOUT_MS',
    default: 30_000,
    meaning: "one export call's time limit; also bounds `shutdown()`",
  }),
  skipSampled: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_SKIP_SAMPLED',
    default: false,
    meaning: 'leave sampled spans to another processor (see head sampling)',
  }),
  onFlush: option<((flush: FlushInfo) => void) | undefined>({
    ...callback('(flush: FlushInfo) => void'),
    default: undefined,
    meaning:
      'called once per flush, with tracing suppressed, with its snapshot id, trigger, trace id, scope and counts',
  }),
  snapshotSignal: option<string | undefined>({
    env: 'FLIGHT_RECORDER_SNAPSHOT_SIGNAL',
    parse: (raw) => {
      const name = raw.trim().toUpperCase();
      return name.startsWith('SIG') ? name : `SIG${name}`;
    },
    check: checkSnapshotSignal,
    default: undefined,
    shownDefault: 'none (off)',
    type: "signal name, e.g. `'SIGUSR2'`",
    meaning: 'write a snapshot file each time the process gets this signal',
  }),
  snapshotDir: option<string>({
    ...SNAPSHOT_DIR,
    meaning:
      'where signal snapshots and crash dumps go (at most 100 files, 256 MiB); also where `FileSpanExporter` writes by default',
  }),
  crashDump: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_CRASH_DUMP',
    default: false,
    meaning: 'on an uncaught exception, write the window and the open spans to `snapshotDir`',
  }),
  runtimeEvents: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_RUNTIME_EVENTS',
    default: true,
    meaning:
      'record GC pauses and event-loop stalls and attach them to the flushed spans they overlapped (see runtime events)',
  }),
  stallThresholdMs: option<number>({
    // The detector ticks every half threshold, at most every 10 ms: below
    // 20 ms a block of the threshold may hold no tick up, and a busy loop
    // holds each tick up by a whole threshold.
    ...duration(20),
    env: 'FLIGHT_RECORDER_STALL_THRESHOLD_MS',
    default: 50,
    meaning: 'an event loop blocked this long or longer is recorded as a stall',
  }),
  stallTriggerMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_STALL_TRIGGER_MS',
    default: 1_000,
    meaning:
      'a stall this long or longer triggers an `event-loop-stall` window flush; 0 turns it off',
  }),
  coordination: option<CoordinationOptions | undefined>({
    check: (v) =>
      v === undefined || (v !== null && typeof v === 'object' && !Array.isArray(v))
        ? undefined
        : 'an object ({ redis, channel, remoteFlushesPerSecond })',
    default: undefined,
    shownDefault: 'none (off; `FLIGHT_RECORDER_REDIS_URL` turns it on)',
    type: '`CoordinationOptions`',
    meaning:
      'share the keep decision with other services over Redis, so traces arrive whole (see coordination in docs)',
  }),
  disabled: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_DISABLED',
    default: false,
    meaning: 'record and export nothing',
  }),
  logMaxBytes: option<number>({
    ...integer('bytes', MAX_BUFFER_BYTES, MIN_BUFFER_BYTES),
    env: 'FLIGHT_RECORDER_LOG_MAX_BYTES',
    default: 4 * 1024 * 1024,
    meaning: 'the most the log buffer holds, oldest log records out first (log processor)',
  }),
  logMinAgeMs: option<number>({
    ...duration(0),
    env: 'FLIGHT_RECORDER_LOG_MIN_AGE_MS',
    default: 30_000,
    meaning: 'how long a log record stays after it was emitted (log processor)',
  }),
  logMaxRecordBytes: option<number>({
    ...integer('bytes', MAX_BUFFER_BYTES),
    env: 'FLIGHT_RECORDER_LOG_MAX_RECORD_BYTES',
    default: 16 * 1024,
    meaning: 'a larger log record is sent at once, not buffered, and counted (log processor)',
  }),
  logPassThroughSeverity: option<LogSeverityName>({
    ...oneOf(LOG_SEVERITIES),
    env: 'FLIGHT_RECORDER_LOG_PASS_THROUGH_SEVERITY',
    default: 'warn',
    meaning: 'log records at or above it are also sent at once, unmarked (log processor)',
  }),
  flushOnErrorLog: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_FLUSH_ON_ERROR_LOG',
    default: true,
    meaning: 'an ERROR log record inside a trace triggers `error-log` (log processor)',
  }),
  logsAsSpanEvents: option<boolean>({
    ...boolean,
    env: 'FLIGHT_RECORDER_LOGS_AS_SPAN_EVENTS',
    default: true,
    meaning: "a flush also writes each log record as an event on its span (for Jaeger's span logs)",
  }),
} satisfies {
  // Exactly the public options, each with a row of its type.
  readonly [K in keyof Required<FlightRecorderOptions>]: Option<FlightRecorderOptions[K]>;
};

/** The recorder's options with every default applied. */
export type ResolvedOptions = Resolved<typeof OPTIONS>;

/**
 * The value of a row's environment variable, or undefined when it is unset,
 * empty (as the OpenTelemetry spec says) or not valid; then `warn` is told
 * once, naming the variable, the text and what was expected.
 */
export function fromEnv<T>(
  row: Option<T>,
  env: Env,
  warn: (message: string) => void,
): T | undefined {
  if (row.env === undefined || row.parse === undefined) return undefined;
  const raw = env[row.env];
  if (raw === undefined || raw === '') return undefined;
  const parsed = row.parse(raw);
  const wrong = parsed === undefined ? (row.envExpected ?? 'valid') : row.check(parsed);
  if (wrong === undefined) return row.normalize ? row.normalize(parsed as T) : parsed;
  const shown = row.redact !== undefined ? row.redact(raw) : JSON.stringify(raw);
  warn(
    `otel-flight-recorder: ignoring ${row.env}=${shown}: expected ${row.envExpected ?? wrong}; using the default ${row.shownDefault ?? describe(row.default)}`,
  );
  return undefined;
}

/**
 * Applies code options, then the environment, then the defaults, row by row.
 * A bad value in code throws a TypeError naming the option and the value; a
 * bad environment value is handed to `warn` (see {@link fromEnv}) and the
 * default applies; an option in code the table does not know is named to
 * `warn` and ignored. `prefix` (`coordination.`) goes before every name said.
 * The environment is read when this is called, never at module load.
 */
export function resolveTable<Table extends OptionTable>(
  table: Table,
  given: object | undefined,
  env: Env,
  warn: (message: string) => void,
  prefix = '',
): Resolved<Table> {
  if (given === undefined) given = {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    const what = prefix === '' ? 'options' : `\`${prefix.slice(0, -1)}\``;
    throw new TypeError(`Expected ${what} to be an object, got ${describe(given)}`);
  }
  // A misspelt option would leave its default in place unseen: say so, once
  // per key (an unknown key may be an option of a newer version, so no throw).
  for (const key of Object.keys(given)) {
    if (Object.prototype.hasOwnProperty.call(table, key)) continue;
    const near = nearest(key, Object.keys(table));
    warn(
      `otel-flight-recorder: ignoring the unknown option ${JSON.stringify(prefix + key)}${near === undefined ? '' : ` (did you mean \`${prefix}${near}\`?)`}`,
    );
  }
  const resolved: Record<string, unknown> = {};
  for (const [name, row] of Object.entries(table)) {
    const value = (given as Record<string, unknown>)[name];
    if (value === undefined) {
      resolved[name] = fromEnv(row, env, warn) ?? row.default;
      continue;
    }
    const wrong = row.check(value);
    if (wrong !== undefined) {
      const shown = row.redact !== undefined ? row.redact(value) : describe(value);
      throw new TypeError(`Expected \`${prefix}${name}\` to be ${wrong}, got ${shown}`);
    }
    resolved[name] = row.normalize ? row.normalize(value) : value;
  }
  return resolved as Resolved<Table>;
}

/**
 * The name `key` was likely meant as: the same but for case, or else the
 * one closest within two edits (of letters, case ignored), if only one is.
 */
function nearest(key: string, names: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = names.find((name) => name.toLowerCase() === lower);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = 3;
  let ties = 0;
  for (const name of names) {
    // One past the best so far, so a name as close as the best is told from a far one.
    const d = editDistance(lower, name.toLowerCase(), bestDistance + 1);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
      ties = 1;
    } else if (d === bestDistance && best !== undefined) ties++;
  }
  return ties === 1 ? best : undefined;
}

/** Levenshtein distance of `a` and `b`, or `limit` once it is sure to reach it. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      rowMin = Math.min(rowMin, current[j]!);
    }
    if (rowMin >= limit) return limit;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit);
}

/** The recorder's options: code, then environment, then defaults (see {@link resolveTable}). */
export function resolveOptions(
  options: FlightRecorderOptions | undefined,
  env: Env,
  warn: (message: string) => void,
): ResolvedOptions {
  return resolveTable(OPTIONS, options, env, warn);
}

/** The options of `recorder.logRecordProcessor(options)`; see `LogRecordProcessorOptions`. */
export const LOG_PROCESSOR_OPTIONS = {
  exportLogs: option<boolean>({
    check: boolean.check,
    type: boolean.type,
    default: true,
    meaning: 'false: log records only go into span events and snapshots, never over OTLP logs',
  }),
} satisfies {
  readonly [K in keyof Required<LogRecordProcessorOptions>]: Option<LogRecordProcessorOptions[K]>;
};

/** The log processor's options once resolved. */
export type ResolvedLogProcessorOptions = Resolved<typeof LOG_PROCESSOR_OPTIONS>;

/** What a file exporter holds in memory for one file unless `maxFileBytes` says otherwise: 16 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The options of {@link FileSpanExporter}. */
export const FILE_EXPORTER_OPTIONS = {
  directory: option<string>({
    ...SNAPSHOT_DIR,
    meaning: 'where files go; created when missing; relative to `process.cwd()`',
  }),
  maxFiles: option<number>({
    ...integer('files', MAX_COUNT),
    default: DEFAULT_MAX_FILES,
    meaning: 'the most snapshot files kept; after each write the oldest are removed',
  }),
  maxTotalBytes: option<number>({
    ...integer('bytes', Number.MAX_SAFE_INTEGER),
    default: DEFAULT_MAX_TOTAL_BYTES,
    meaning: 'the most bytes the files may hold together; a single larger file is refused',
  }),
  writeDelayMs: option<number>({
    ...duration(0),
    default: 500,
    meaning: 'how long a flush is held after its last batch before its file is written',
  }),
  maxFileBytes: option<number | undefined>({
    ...integer('bytes', MAX_BUFFER_BYTES),
    default: undefined,
    shownDefault: `${DEFAULT_MAX_FILE_BYTES} (16 MiB), at most \`maxTotalBytes\``,
    meaning: 'the most bytes held in memory for one file; more continues in a further file',
  }),
  onWrite: option<((write: SnapshotFileWrite) => void) | undefined>({
    ...callback('(write: SnapshotFileWrite) => void'),
    default: undefined,
    meaning: 'called after each file is written or fails, with what it held',
  }),
} satisfies {
  readonly [K in keyof Required<FileSpanExporterOptions>]: Option<FileSpanExporterOptions[K]>;
};

/** Whether `v` is a URL node-redis connects to: `redis:` or `rediss:`. */
function isRedisUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function isRedisClient(v: unknown): v is RedisClientLike {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as RedisClientLike).publish === 'function' &&
    typeof (v as RedisClientLike).duplicate === 'function' &&
    typeof (v as RedisClientLike).connect === 'function'
  );
}

/** The options of coordination (`coordination` above); see `CoordinationOptions`. */
export const COORDINATION_OPTIONS = {
  redis: option<string | RedisClientLike | undefined>({
    env: 'FLIGHT_RECORDER_REDIS_URL',
    parse: (raw) => raw.trim(),
    check: (v) =>
      (typeof v === 'string' && isRedisUrl(v)) || isRedisClient(v)
        ? undefined
        : 'a redis:// or rediss:// URL, or a node-redis client',
    // A URL may carry a password: errors and warnings show it redacted.
    redact: (v) => (typeof v === 'string' ? JSON.stringify(redactUrl(v)) : describe(v)),
    default: undefined,
    shownDefault: 'none (off)',
    type: '`redis[s]://` URL or node-redis client',
    meaning: 'where Redis is; setting it turns coordination on (needs the `redis` package)',
  }),
  channel: option<string>({
    ...nonEmptyString,
    env: 'FLIGHT_RECORDER_REDIS_CHANNEL',
    default: 'otel-flight-recorder',
    meaning: 'the pub/sub channel the services of one system share',
  }),
  remoteFlushesPerSecond: option<number>({
    ...integer('flushes', 10_000),
    env: 'FLIGHT_RECORDER_REMOTE_FLUSHES_PER_SECOND',
    default: 10,
    meaning: 'the most remote triggers acted on per second; the rest are refused and counted',
  }),
  targets: option<'broadcast' | 'breadcrumbs'>({
    ...oneOf(['broadcast', 'breadcrumbs'] as const),
    env: 'FLIGHT_RECORDER_REDIS_TARGETS',
    default: 'broadcast',
    meaning:
      'every service on the channel, or only those the request went through (`FlightRecorderPropagator`)',
  }),
} satisfies {
  readonly [K in keyof Required<CoordinationOptions>]: Option<CoordinationOptions[K]>;
};

/** Coordination's options once resolved. */
export type ResolvedCoordination = Resolved<typeof COORDINATION_OPTIONS>;

import { diag } from '@opentelemetry/api';
import {
  type BuiltInTrigger,
  DEFAULTS,
  type FlightRecorderOptions,
  type FlushScope,
  type ResolvedOptions,
} from './options.js';
import { checkSnapshotSignal } from './snapshot-signal.js';

type Env = Record<string, string | undefined>;
type Check = (value: unknown) => string | undefined;

const BUILT_IN_TRIGGERS: readonly BuiltInTrigger[] = ['latency', 'error'];
const FLUSH_SCOPES: readonly FlushScope[] = ['window', 'trace'];

// Each check returns what was expected when the value is wrong.
const nonNegative: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'a finite number >= 0';
const positive: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'a finite number > 0';
const positiveInteger: Check = (v) =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? undefined : 'an integer > 0';
const oneOf =
  (names: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && names.includes(v) ? undefined : `one of ${names.join(', ')}`;
const triggerList: Check = (v) =>
  Array.isArray(v) && v.every((t) => BUILT_IN_TRIGGERS.includes(t))
    ? undefined
    : `an array of ${BUILT_IN_TRIGGERS.join(', ')}`;
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'a boolean');
const nonEmptyString: Check = (v) =>
  typeof v === 'string' && v !== '' ? undefined : 'a non-empty string';

type Parser = (raw: string) => unknown;

const number: Parser = (raw) => (raw.trim() === '' ? Number.NaN : Number(raw));
const word: Parser = (raw) => raw.trim().toLowerCase();
const text: Parser = (raw) => raw;
const signal: Parser = (raw) => {
  const name = raw.trim().toUpperCase();
  return name.startsWith('SIG') ? name : `SIG${name}`;
};
const triggers: Parser = (raw) => {
  const names = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (names.length === 1 && names[0] === 'none') return [];
  return names.length === 0 ? undefined : [...new Set(names)];
};
const bool: Parser = (raw) => {
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
};

/**
 * The options that have an environment variable: `[option, variable, parse, check]`.
 * Read when a recorder is built, never at module load.
 */
const TABLE: readonly [keyof typeof DEFAULTS, string, Parser, Check][] = [
  ['latencyThresholdMs', 'FLIGHT_RECORDER_LATENCY_THRESHOLD_MS', number, nonNegative],
  ['triggers', 'FLIGHT_RECORDER_TRIGGERS', triggers, triggerList],
  ['minAgeMs', 'FLIGHT_RECORDER_MIN_AGE_MS', number, nonNegative],
  ['maxBytes', 'FLIGHT_RECORDER_MAX_BYTES', number, positiveInteger],
  ['flushScope', 'FLIGHT_RECORDER_FLUSH_SCOPE', word, oneOf(FLUSH_SCOPES)],
  ['minFlushIntervalMs', 'FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS', number, nonNegative],
  ['maxExportBatchSize', 'FLIGHT_RECORDER_MAX_EXPORT_BATCH_SIZE', number, positiveInteger],
  ['exportTimeoutMs', 'FLIGHT_RECORDER_EXPORT_TIMEOUT_MS', number, positive],
  ['skipSampled', 'FLIGHT_RECORDER_SKIP_SAMPLED', bool, boolean],
  ['disabled', 'FLIGHT_RECORDER_DISABLED', bool, boolean],
  ['snapshotSignal', 'FLIGHT_RECORDER_SNAPSHOT_SIGNAL', signal, checkSnapshotSignal],
  ['snapshotDir', 'FLIGHT_RECORDER_SNAPSHOT_DIR', text, nonEmptyString],
  ['crashDump', 'FLIGHT_RECORDER_CRASH_DUMP', bool, boolean],
];

/** The environment variable of each option, for documentation and tests. */
export const ENV_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  TABLE.map(([option, name]) => [option, name]),
);

function describe(value: unknown): string {
  if (value === undefined) return 'none';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return JSON.stringify(value);
  return String(value);
}

/**
 * Applies code options, then the environment, then the defaults. A bad code
 * option throws a TypeError naming it and its value; a bad environment value
 * logs one warning naming the variable and its value, and the default applies.
 */
export function resolveOptions(
  options: FlightRecorderOptions = {},
  env: Env = process.env,
): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`Expected options to be an object, got ${describe(options)}`);
  }
  const resolved: Record<string, unknown> = { ...DEFAULTS };
  for (const [option, variable, parse, check] of TABLE) {
    const given = options[option];
    if (given !== undefined) {
      const expected = check(given);
      if (expected) {
        throw new TypeError(`Expected \`${option}\` to be ${expected}, got ${describe(given)}`);
      }
      resolved[option] = option === 'triggers' ? [...new Set(given as BuiltInTrigger[])] : given;
      continue;
    }
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const parsed = parse(raw);
    const expected = parsed === undefined ? 'valid' : check(parsed);
    if (expected) {
      diag.warn(
        `otel-flight-recorder: ignoring ${variable}=${JSON.stringify(raw)}: expected ${expected}; using the default ${describe(DEFAULTS[option])}`,
      );
      continue;
    }
    resolved[option] = parsed;
  }
  const { exporter, shouldTrigger, onFlush } = options;
  for (const [name, fn] of [
    ['shouldTrigger', shouldTrigger],
    ['onFlush', onFlush],
  ] as const) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(fn)}`);
    }
  }
  if (
    exporter !== undefined &&
    (exporter === null ||
      typeof exporter !== 'object' ||
      typeof exporter.export !== 'function' ||
      typeof exporter.shutdown !== 'function')
  ) {
    throw new TypeError(
      `Expected \`exporter\` to be a SpanExporter (with export and shutdown), got ${describe(exporter)}`,
    );
  }
  resolved.exporter = exporter;
  resolved.shouldTrigger = shouldTrigger;
  resolved.onFlush = onFlush;
  return resolved as unknown as ResolvedOptions;
}

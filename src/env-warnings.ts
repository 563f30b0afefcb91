import { format } from 'node:util';
import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';

// A recorder is usually built before anything installs a diag logger:
// `new NodeSDK({ spanProcessors: [new FlightRecorderSpanProcessor()] })` builds
// it first, and NodeSDK installs its logger (only when OTEL_LOG_LEVEL is set)
// in its own constructor, after. A warning logged at construction would reach
// no one. So warnings about the environment wait until the code that set
// tracing up has run, then go to the diag logger when there is one, and
// otherwise to Node's process warnings (stderr, unless --no-warnings), so
// they are never lost.

/** The global every copy of @opentelemetry/api 1.x registers its diag logger under. */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

type ApiGlobal = { diag?: DiagLogger } | undefined;

const apiGlobal = (): ApiGlobal => (globalThis as Record<symbol, ApiGlobal>)[API_GLOBAL];

let pending: string[] = [];

/** Whether some copy of @opentelemetry/api has a diag logger installed now. */
export function diagLoggerInstalled(): boolean {
  return apiGlobal()?.diag !== undefined;
}

function toDiag(message: string, level: 'info' | 'warn' | 'error' = 'warn'): void {
  try {
    // The logger installed, by whichever copy of @opentelemetry/api: this
    // package's own `diag` reaches no logger installed by an older minor.
    (apiGlobal()?.diag ?? diag)[level](message);
  } catch {
    // A logger that throws must not take the host down.
  }
}

function deliver(): void {
  const messages = pending;
  pending = [];
  const installed = diagLoggerInstalled();
  for (const message of messages) {
    if (installed) toDiag(message);
    else
      try {
        process.emitWarning(message, {
          type: 'FlightRecorderWarning',
          code: 'FLIGHT_RECORDER_ENV',
        });
      } catch {
        // A 'warning' listener that throws must not take the host down.
      }
  }
}

/**
 * Reports a bad environment value on the next turn of the event loop, to the
 * diag logger when one is installed by then, else as a process warning.
 */
export function warnAboutEnv(message: string): void {
  if (pending.push(message) === 1) setImmediate(deliver);
}

/**
 * Reports a problem with the recorder's setup (a bad value, a missing
 * package) so that it reaches the user: to the diag logger at once when one
 * is installed, else as {@link warnAboutEnv} does.
 */
export function warnAboutSetup(message: string): void {
  if (diagLoggerInstalled()) toDiag(message);
  else warnAboutEnv(message);
}

/**
 * Tells the user how something they asked for went (a signal snapshot, a
 * crash dump): through the diag logger at `level` when one is installed,
 * else on stderr (synchronous for files, pipes and terminals on Linux), so
 * a plain setup with no logger hears it too, on a crashing process's way
 * out as well. Never throws.
 */
export function report(level: 'info' | 'warn' | 'error', message: string): void {
  if (diagLoggerInstalled()) {
    toDiag(message, level);
    return;
  }
  try {
    process.stderr.write(`${message}\n`);
  } catch {
    // A closed stderr must not take the host down.
  }
}

/**
 * Runs `build` with every diag warning logged meanwhile (by any copy of
 * @opentelemetry/api) pushed to `warnings` instead, each once, for the
 * caller to report with {@link warnAboutSetup}: what the SDK's exporters
 * warn about while they read the environment in their constructor would
 * otherwise go nowhere, as no logger is installed yet. Without a logger,
 * errors are held too; with one, every other level goes to it as before.
 * The logger in place before is back when this returns or throws.
 */
export function holdDiagWarnings<T>(warnings: string[], build: () => T): T {
  const api = apiGlobal();
  const previous = api?.diag;
  const hold = (message: string, ...args: unknown[]): void => {
    const text = format(message, ...args);
    if (!warnings.includes(text)) warnings.push(text);
  };
  const holder: DiagLogger = {
    error: previous === undefined ? hold : (m, ...a) => previous.error(m, ...a),
    warn: hold,
    info: (m, ...a) => previous?.info(m, ...a),
    debug: (m, ...a) => previous?.debug(m, ...a),
    verbose: (m, ...a) => previous?.verbose(m, ...a),
  };
  // Swapped in place where the global exists, so a logger the user installed
  // comes back as it was (with its level), not wrapped.
  if (api !== undefined) api.diag = holder;
  else diag.setLogger(holder, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
  try {
    return build();
  } finally {
    if (api === undefined) {
      diag.disable();
      // setLogger made the global, stamped with this package's API version:
      // left behind, another copy of @opentelemetry/api (the app's, NodeSDK's)
      // could register nothing, and tracing would be off without a word.
      const made = apiGlobal();
      if (made !== undefined && Object.keys(made).every((key) => key === 'version')) {
        delete (globalThis as Record<symbol, ApiGlobal>)[API_GLOBAL];
      }
    } else if (previous === undefined) delete api.diag;
    else api.diag = previous;
  }
}

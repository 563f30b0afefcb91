import { diag } from '@opentelemetry/api';

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

let pending: string[] = [];

function diagLoggerInstalled(): boolean {
  const api = (globalThis as Record<symbol, { diag?: unknown } | undefined>)[API_GLOBAL];
  return api?.diag !== undefined;
}

function deliver(): void {
  const messages = pending;
  pending = [];
  const toDiag = diagLoggerInstalled();
  for (const message of messages) {
    try {
      if (toDiag) diag.warn(message);
      else
        process.emitWarning(message, {
          type: 'FlightRecorderWarning',
          code: 'FLIGHT_RECORDER_ENV',
        });
    } catch {
      // A logger that throws must not take the host down.
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

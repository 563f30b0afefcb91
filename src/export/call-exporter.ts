import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** `error` as an `Error`, for values thrown or rejected with that are not one. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A result callback's argument as a result: one that is missing or has no
 * `code` (`done()`, `done(undefined)`) counts as a failure, so it is never
 * read as a success or throws where the exporter called back.
 */
export function asResult(result: ExportResult | undefined): ExportResult {
  if (result !== null && typeof result === 'object' && typeof result.code === 'number')
    return result;
  return {
    code: ExportResultCode.FAILED,
    error: new Error(`the exporter called back without a result (got ${String(result)})`),
  };
}

/**
 * Calls a user's `exporter.export(spans, done)`. `SpanExporter.export`
 * returns nothing, but an `async export()` returns a promise, and when it
 * rejects without calling back the rejection would go unhandled, which ends
 * a Node process by default: it is handled here and becomes a failed
 * result. A synchronous throw is left to the caller, which counts it.
 * `done` must ignore calls after the first (an exporter may call back and
 * then reject).
 */
export function callExporter(
  exporter: SpanExporter,
  spans: ReadableSpan[],
  done: (result: ExportResult) => void,
): void {
  const returned: unknown = exporter.export(spans, done);
  if (
    returned !== null &&
    typeof returned === 'object' &&
    typeof (returned as PromiseLike<unknown>).then === 'function'
  ) {
    (returned as PromiseLike<unknown>).then(undefined, (error: unknown) =>
      done({ code: ExportResultCode.FAILED, error: asError(error) }),
    );
  }
}

import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { waitForResources } from '../resource-attributes.js';
import { asError, callExporter } from './call-exporter.js';

function nameOf(exporter: SpanExporter, index: number, count: number): string {
  const type = (exporter as { constructor?: { name?: string } }).constructor?.name;
  return `exporter ${index + 1} of ${count}${type && type !== 'Object' ? ` (${type})` : ''}`;
}

/** One error for several failures: the only one as is, or an AggregateError naming them all. */
function combine(errors: Error[], what: string): Error {
  if (errors.length === 1) return errors[0]!;
  return new AggregateError(
    errors,
    `${errors.length} exporters failed to ${what}: ${errors.map((e) => e.message).join('; ')}`,
  );
}

/**
 * A span exporter that hands every batch to several exporters at once, for
 * example OTLP and {@link FileSpanExporter}, so a flush is both sent and kept.
 *
 * An export succeeds only when every exporter succeeds; otherwise it fails
 * with the failing exporter's error (an `AggregateError` when several fail),
 * its message naming which exporter failed. The callback fires once all of
 * them have answered, so the slowest sets the pace; the recorder's
 * `exportTimeoutMs` bounds the wait. An exporter that throws counts as
 * failed, and so does one whose `export` returns a promise that rejects;
 * nothing is thrown to the caller. Each exporter gets its own copy of the
 * span array (the last gets the array itself). When the caller empties that
 * array, as the recorder does when it gives up on an export, the copies
 * still held by exporters that never answered are emptied too, at the next
 * export or shutdown, so a hung exporter keeps the spans of one call at
 * most. Like the SDK's processors, it first waits for the async attributes
 * of the spans' resources, so no exporter reads them early.
 *
 * `forceFlush` and `shutdown` go to every exporter, each waiting for all to
 * settle; they reject with the errors of those that failed. `shutdown` is
 * idempotent.
 *
 * @example
 * ```ts
 * const exporter = new FanOutSpanExporter([new OTLPTraceExporter(), new FileSpanExporter()]);
 * ```
 */
export class FanOutSpanExporter implements SpanExporter {
  private readonly _exporters: readonly SpanExporter[];
  private _shutdown: Promise<void> | undefined;
  /** Calls some exporter has not answered yet: the array handed in, and the copies made of it. */
  private readonly _unanswered = new Set<{ spans: ReadableSpan[]; copies: ReadableSpan[][] }>();

  /**
   * @param exporters Where each batch goes, in this order. At least one.
   * @throws TypeError when `exporters` is not a non-empty array of span exporters.
   */
  constructor(exporters: readonly SpanExporter[]) {
    if (!Array.isArray(exporters) || exporters.length === 0) {
      throw new TypeError(
        `Expected \`exporters\` to be a non-empty array of SpanExporter, got ${Array.isArray(exporters) ? '[]' : String(exporters)}`,
      );
    }
    exporters.forEach((e: unknown, i) => {
      const x = e as Partial<SpanExporter> | null | undefined;
      if (
        x === null ||
        typeof x !== 'object' ||
        typeof x.export !== 'function' ||
        typeof x.shutdown !== 'function'
      ) {
        throw new TypeError(
          `Expected \`exporters[${i}]\` to be a SpanExporter (with export and shutdown), got ${String(e)}`,
        );
      }
    });
    this._exporters = [...exporters];
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const settling = waitForResources(spans);
    if (settling === undefined) this._export(spans, resultCallback);
    else settling.then(() => this._export(spans, resultCallback));
  }

  /** Empties the copies of calls whose array the caller emptied: it gave up on them. */
  private _releaseAbandoned(): void {
    for (const call of this._unanswered) {
      if (call.spans.length > 0) continue;
      for (const copy of call.copies) copy.length = 0;
      this._unanswered.delete(call);
    }
  }

  private _export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this._releaseAbandoned();
    const count = this._exporters.length;
    const copies: ReadableSpan[][] = [];
    const call = { spans, copies };
    if (count > 1) this._unanswered.add(call);
    const errors: (Error | undefined)[] = new Array(count).fill(undefined);
    let waiting = count;
    const answered = new Array<boolean>(count).fill(false);
    const answer = (i: number, result: ExportResult | undefined): void => {
      if (answered[i]) return;
      answered[i] = true;
      if (result?.code !== ExportResultCode.SUCCESS) {
        const cause = result?.error ?? new Error('export failed');
        errors[i] = new Error(`${nameOf(this._exporters[i]!, i, count)} failed: ${cause.message}`, {
          cause,
        });
      }
      if (--waiting > 0) return;
      this._unanswered.delete(call);
      const failed = errors.filter((e): e is Error => e !== undefined);
      const result_: ExportResult =
        failed.length === 0
          ? { code: ExportResultCode.SUCCESS }
          : { code: ExportResultCode.FAILED, error: combine(failed, 'export') };
      try {
        resultCallback(result_);
      } catch (error) {
        diag.error(`otel-flight-recorder: an export result callback threw: ${error}`);
      }
    };
    this._exporters.forEach((exporter, i) => {
      try {
        let handed = spans;
        if (i < count - 1) copies.push((handed = spans.slice()));
        callExporter(exporter, handed, (result) => answer(i, result));
      } catch (error) {
        answer(i, { code: ExportResultCode.FAILED, error: asError(error) });
      }
    });
  }

  forceFlush(): Promise<void> {
    return this._all('flush', (e) => e.forceFlush?.());
  }

  shutdown(): Promise<void> {
    this._releaseAbandoned();
    this._shutdown ??= this._all('shut down', (e) => e.shutdown());
    return this._shutdown;
  }

  private async _all(
    what: string,
    call: (exporter: SpanExporter) => Promise<void> | undefined,
  ): Promise<void> {
    const count = this._exporters.length;
    const results = await Promise.allSettled(
      this._exporters.map(async (exporter) => call(exporter)),
    );
    const errors: Error[] = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        const cause = asError(r.reason);
        errors.push(
          new Error(
            `${nameOf(this._exporters[i]!, i, count)} failed to ${what}: ${cause.message}`,
            {
              cause,
            },
          ),
        );
      }
    });
    if (errors.length > 0) throw combine(errors, what);
  }
}

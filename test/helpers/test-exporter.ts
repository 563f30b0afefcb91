import { context } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, isTracingSuppressed } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

export type ExporterMode = 'ok' | 'fail' | 'hang' | 'throw';

/**
 * A SpanExporter whose behaviour a test sets: succeed, fail, never call
 * back, or throw; optionally after a delay. It records every batch, whether
 * tracing was suppressed during each call, and the most calls outstanding at
 * once.
 */
export class TestExporter implements SpanExporter {
  readonly batches: ReadableSpan[][] = [];
  readonly suppressed: boolean[] = [];
  mode: ExporterMode = 'ok';
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  shutdowns = 0;
  forceFlushes = 0;

  get spans(): ReadableSpan[] {
    return this.batches.flat();
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.batches.push(spans);
    this.suppressed.push(isTracingSuppressed(context.active()));
    if (this.mode === 'throw') throw new Error('exporter exploded');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.mode === 'hang') return;
    const finish = (): void => {
      this.inFlight--;
      done(
        this.mode === 'fail'
          ? { code: ExportResultCode.FAILED, error: new Error('collector unavailable') }
          : { code: ExportResultCode.SUCCESS },
      );
    };
    if (this.delayMs > 0) setTimeout(finish, this.delayMs);
    else finish();
  }

  async forceFlush(): Promise<void> {
    this.forceFlushes++;
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }
}

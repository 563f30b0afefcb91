import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { emitTrace } from './workload.js';

/**
 * Scenario 1's spans, ended and kept, to replay through a processor's
 * onStart and onEnd: `traces` traces of the workload, none failing.
 */
export function endedSpans(traces: number): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  const collect: SpanProcessor = {
    onStart() {},
    onEnd(span) {
      spans.push(span);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const tracer = new TracerProvider({ spanProcessors: [collect] }).getTracer('bench', '1.0.0');
  for (let i = 0; i < traces; i++) emitTrace(tracer, i, false);
  return spans;
}

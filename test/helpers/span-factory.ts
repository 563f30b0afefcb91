import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { makeTracing } from './tracing.js';

const T0 = 1_800_000_000_000;

/**
 * Makes ended spans on a real TracerProvider, for exporters to export:
 * `make(n, prefix)` returns `n` new spans named `<prefix> <i>`, 1 ms each.
 */
export function spanFactory(serviceName?: string) {
  const ended: ReadableSpan[] = [];
  const collector: SpanProcessor = {
    onStart: () => {},
    onEnd: (span) => ended.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const t = makeTracing(collector, undefined, serviceName);
  return (n: number, prefix = 'span'): ReadableSpan[] => {
    const from = ended.length;
    for (let i = 0; i < n; i++) t.start(`${prefix} ${i}`, T0 + i).end(T0 + i + 1);
    return ended.slice(from);
  };
}

import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { emitChildren, emitTrace } from './workload.js';

/** A processor that keeps every span that ends in `spans`. */
function collector(spans: ReadableSpan[]): SpanProcessor {
  return {
    onStart() {},
    onEnd(span) {
      spans.push(span);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/**
 * Scenario 1's spans, ended and kept, to replay through a processor's
 * onStart and onEnd: `traces` traces of the workload, none failing.
 */
export function endedSpans(traces: number): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  const collect = collector(spans);
  const tracer = new TracerProvider({ spanProcessors: [collect] }).getTracer('bench', '1.0.0');
  for (let i = 0; i < traces; i++) emitTrace(tracer, i, false);
  return spans;
}

/**
 * Scenario 2's spans, ended and kept: `requests` requests served by a
 * `node:http` server under `@opentelemetry/instrumentation-http`, each a
 * server span (named `GET`, as the client span it shares its first key with)
 * and the same 5 children. Registers a global context manager and tracer
 * provider: call it once.
 */
export async function endedHttpSpans(requests: number): Promise<ReadableSpan[]> {
  const spans: ReadableSpan[] = [];
  const collect = collector(spans);
  // As NodeTracerProvider.register() does, with what SDK 3.x has too.
  const provider = new TracerProvider({ spanProcessors: [collect] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const instrumentation = new HttpInstrumentation();
  // Required after the instrumentation is set up, so that it is patched.
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const tracer = trace.getTracer('bench-service', '1.0.0');
  let i = 0;
  const server = http.createServer((_req, res) => {
    emitChildren(tracer, context.active(), i++);
    res.end('{}');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  try {
    // fetch is not traced by instrumentation-http: the server spans alone, as autocannon makes them.
    for (let k = 0; k < requests; k++) {
      const response = await fetch(`http://127.0.0.1:${port}/users/${k}`);
      await response.text();
    }
  } finally {
    await new Promise((done) => server.close(done));
    instrumentation.disable();
  }
  return spans;
}

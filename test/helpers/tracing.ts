import {
  type Context,
  context,
  type DiagLogger,
  DiagLogLevel,
  diag,
  type Span,
  type SpanContext,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

// Runtime events (GC pauses, stalls) are real and on by default: a test
// that asserts which spans a flush holds would see whatever GC this process
// did. They are off in tests, and in the processes tests start, unless a
// test turns them on (`runtimeEvents: true` wins over the environment);
// test/runtime-*.test.ts do, with injected events.
process.env.FLIGHT_RECORDER_RUNTIME_EVENTS ??= 'false';

// Exports run under suppressTracing, which needs a real context manager, as
// NodeSDK registers for users.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

/** Samples nothing but records everything: spans reach onEnd unsampled. */
export const recordOnlySampler: Sampler = {
  shouldSample: () => ({ decision: SamplingDecision.RECORD }),
  toString: () => 'RecordOnlySampler',
};

/** A tracer over a real SDK TracerProvider, with spans at explicit times (epoch ms). */
export function makeTracing(processor: SpanProcessor, sampler?: Sampler, serviceName?: string) {
  const provider = new TracerProvider({
    spanProcessors: [processor],
    ...(sampler ? { sampler } : {}),
    ...(serviceName ? { resource: resourceFromAttributes({ 'service.name': serviceName }) } : {}),
  });
  const tracer = provider.getTracer('test');
  return {
    provider,
    /** Starts a span at `time`, as a child of `parent` when given (a span or a remote context). */
    start(name: string, time: number, parent?: Span | SpanContext): Span {
      let ctx: Context = context.active();
      if (parent !== undefined) {
        ctx =
          'spanContext' in parent ? trace.setSpan(ctx, parent) : trace.setSpanContext(ctx, parent);
      }
      return tracer.startSpan(name, { startTime: time }, ctx);
    },
  };
}

export function fail(span: Span): Span {
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  return span;
}

export function remoteParent(traceId: string): SpanContext {
  return { traceId, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true };
}

export function names(spans: readonly ReadableSpan[]): string[] {
  return spans.map((s) => s.name).sort();
}

export function traceIdOf(span: Span | ReadableSpan): string {
  return span.spanContext().traceId;
}

/** Captures diag messages at `logLevel` (WARN) and above until `restore` is called. */
export function captureDiag(logLevel: DiagLogLevel = DiagLogLevel.WARN) {
  const messages: { level: 'error' | 'warn' | 'info'; message: string }[] = [];
  const push =
    (level: 'error' | 'warn' | 'info') =>
    (message: string, ...args: unknown[]) =>
      messages.push({ level, message: [message, ...args.map(String)].join(' ') });
  const logger: DiagLogger = {
    error: push('error'),
    warn: push('warn'),
    info: push('info'),
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(logger, { logLevel, suppressOverrideMessage: true });
  return {
    messages,
    restore: () => diag.disable(),
  };
}

// Taken before any test fakes timers, so settle() works under fake timers.
const realSetImmediate = globalThis.setImmediate;

/** Lets queued microtasks and real immediates run, a few rounds. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => realSetImmediate(resolve));
}

/** Waits for `check` to hold, polling, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

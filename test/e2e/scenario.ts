import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import {
  FileSpanExporter,
  FlightRecorderSpanProcessor,
  type FlightRecorderStats,
  type FlushInfo,
  type SnapshotFileWrite,
} from '../../src/index.js';

/** A root longer than this is slow. The scenario's fast roots last 5 ms, its slow one 1 s. */
export const LATENCY_THRESHOLD_MS = 200;

export interface ExpectedSpan {
  name: string;
  spanId: string;
  parentSpanId: string | undefined;
}

export interface ExpectedTrace {
  label: string;
  traceId: string;
  spans: ExpectedSpan[];
}

/** What the scenario did, for the assertions to compare Jaeger against. */
export interface ScenarioResult {
  serviceName: string;
  /** Fast traces that ended before the slow one: the window of its flush. */
  windowTraces: ExpectedTrace[];
  /** The slow trace (latency trigger), its late child included. */
  slow: ExpectedTrace;
  /** The child of the slow trace that was still running when its root ended. */
  lateChild: ExpectedSpan;
  /** The failing trace (error trigger), within minFlushIntervalMs of the first flush. */
  failed: ExpectedTrace;
  /** Fast traces that ended after the window flush: no flush ever takes them. */
  unflushed: ExpectedTrace[];
  /** The recorder's flushes, in order. */
  flushes: FlushInfo[];
  /** The recorder's stats once everything was exported. */
  stats: FlightRecorderStats;
  /** What the failing root recorded with recordException. */
  errorMessage: string;
  /** The DEBUG lines logged in the failing trace, with the span each was logged in. */
  debugLines: { spanId: string; body: string; timeMs: number }[];
}

/** Starts spans of one trace at explicit times (epoch ms) and remembers what it made. */
class TraceRecorder {
  readonly spans: ExpectedSpan[] = [];
  private _traceId: string | undefined;

  constructor(
    private readonly _tracer: Tracer,
    readonly label: string,
  ) {}

  start(name: string, startMs: number, parent?: Span): Span {
    const ctx = parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent);
    const span = this._tracer.startSpan(name, { startTime: startMs }, ctx);
    this._traceId ??= span.spanContext().traceId;
    this.spans.push({
      name,
      spanId: span.spanContext().spanId,
      parentSpanId: parent?.spanContext().spanId,
    });
    return span;
  }

  expected(): ExpectedTrace {
    if (this._traceId === undefined) throw new Error(`${this.label} has no spans`);
    return { label: this.label, traceId: this._traceId, spans: [...this.spans] };
  }
}

/**
 * A fast trace: a root of 5 ms with two children, all at explicit times
 * ending now, so its duration never depends on the machine's speed.
 */
function fastTrace(tracer: Tracer, label: string): ExpectedTrace {
  const t = new TraceRecorder(tracer, label);
  const now = Date.now();
  const root = t.start(`GET /fast/${label}`, now - 5);
  t.start('cache.get', now - 4, root).end(now - 3);
  t.start('render', now - 3, root).end(now - 1);
  root.end(now);
  return t.expected();
}

/**
 * Runs the scenario against an OTLP/HTTP endpoint with a real TracerProvider,
 * FlightRecorderSpanProcessor and OTLPTraceExporter, then waits until
 * everything the recorder exports has been accepted by the endpoint.
 */
export async function runScenario(otlpHttpUrl: string): Promise<ScenarioResult> {
  const serviceName = `flight-recorder-e2e-${randomBytes(4).toString('hex')}`;
  const flushes: FlushInfo[] = [];
  // onFlush pushes from inside span.end(), which the compiler cannot see.
  const flushCount = (): number => flushes.length;
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new OTLPTraceExporter({ url: `${otlpHttpUrl}/v1/traces` }),
    latencyThresholdMs: LATENCY_THRESHOLD_MS,
    triggers: ['latency', 'error'],
    flushScope: 'window',
    // Nothing ages out during the scenario, and only the first trigger takes the window.
    minAgeMs: 10 * 60_000,
    minFlushIntervalMs: 10 * 60_000,
    onFlush: (flush) => flushes.push(flush),
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [recorder],
  });
  const tracer = provider.getTracer('otel-flight-recorder-e2e');
  // The log processor reads OTEL_EXPORTER_OTLP_LOGS_ENDPOINT when it is made.
  const previousLogsEndpoint = process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = `${otlpHttpUrl}/v1/logs`;
  const loggerProvider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    processors: [recorder.logRecordProcessor()],
  });
  if (previousLogsEndpoint === undefined) delete process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT;
  else process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = previousLogsEndpoint;
  const logger = loggerProvider.getLogger('otel-flight-recorder-e2e');
  const debugLines: ScenarioResult['debugLines'] = [];
  const debug = (span: Span, body: string, timeMs: number): void => {
    logger.emit({
      severityNumber: SeverityNumber.DEBUG,
      severityText: 'DEBUG',
      body,
      timestamp: timeMs,
      context: trace.setSpan(ROOT_CONTEXT, span),
    });
    debugLines.push({ spanId: span.spanContext().spanId, body, timeMs });
  };
  try {
    // 1. Fast traces before any trigger: the window of the first flush.
    const windowTraces = ['w1', 'w2', 'w3'].map((label) => fastTrace(tracer, label));

    // 2. A slow trace whose root ends while one child still runs.
    const slow = new TraceRecorder(tracer, 'slow');
    let now = Date.now();
    const slowRoot = slow.start('GET /slow', now - 1_000);
    const query = slow.start('db.query', now - 900, slowRoot);
    slow.start('db.connect', now - 890, query).end(now - 850);
    query.end(now - 400);
    slow.start('cache.get', now - 300, slowRoot).end(now - 250);
    const late = slow.start('background.refresh', now - 200, slowRoot);
    slowRoot.end(now); // latency trigger: a window flush
    if (flushCount() !== 1) throw new Error(`the slow root made ${flushCount()} flushes, not 1`);

    // 3. Fast traces after the window flush.
    const unflushed = ['u1', 'u2'].map((label) => fastTrace(tracer, label));

    // 4. A failing trace within minFlushIntervalMs: it goes out alone.
    const errorMessage = 'payment declined';
    const failed = new TraceRecorder(tracer, 'failed');
    now = Date.now();
    const failedRoot = failed.start('POST /checkout', now - 50);
    const validate = failed.start('validate', now - 40, failedRoot);
    debug(validate, 'cart has 3 items', now - 38);
    validate.end(now - 30);
    const charge = failed.start('payment.charge', now - 30, failedRoot);
    debug(charge, 'calling the payment provider', now - 28);
    debug(charge, 'provider answered 402', now - 12);
    charge.recordException(new Error(errorMessage));
    charge.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage });
    charge.end(now - 10);
    failedRoot.recordException(new Error(errorMessage));
    failedRoot.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage });
    failedRoot.end(now); // error trigger: the trace alone
    if (flushCount() !== 2) throw new Error(`the failing root made ${flushCount() - 1} flushes`);

    // 5. The slow trace's late child ends after its flush.
    late.end(Math.max(Date.now(), now + 1));

    // 6. One more fast trace after everything.
    unflushed.push(fastTrace(tracer, 'u3'));

    await recorder.forceFlush();
    await loggerProvider.forceFlush();
    const lateChild = slow.spans.find((s) => s.spanId === late.spanContext().spanId);
    if (lateChild === undefined) throw new Error('late child not recorded');
    return {
      serviceName,
      windowTraces,
      slow: slow.expected(),
      lateChild,
      failed: failed.expected(),
      unflushed,
      flushes,
      stats: recorder.stats(),
      errorMessage,
      debugLines,
    };
  } finally {
    // Drops what is still buffered (the unflushed traces) without exporting it.
    await provider.shutdown();
    await loggerProvider.shutdown();
  }
}

/** What {@link runFileScenario} wrote. */
export interface FileScenarioResult {
  serviceName: string;
  /** The slow trace in the file. */
  slow: ExpectedTrace;
  /** The window's fast trace in the file. */
  window: ExpectedTrace;
  flush: FlushInfo;
  /** The snapshot files written, one here. */
  writes: SnapshotFileWrite[];
}

/**
 * The embedded default: a recorder whose exporter is a FileSpanExporter,
 * with one fast trace then one slow trace, so one file holds one flush.
 */
export async function runFileScenario(directory: string): Promise<FileScenarioResult> {
  const serviceName = `flight-recorder-e2e-file-${randomBytes(4).toString('hex')}`;
  const writes: SnapshotFileWrite[] = [];
  const flushes: FlushInfo[] = [];
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new FileSpanExporter({ directory, onWrite: (w) => writes.push(w) }),
    latencyThresholdMs: LATENCY_THRESHOLD_MS,
    onFlush: (flush) => flushes.push(flush),
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [recorder],
  });
  try {
    const tracer = provider.getTracer('otel-flight-recorder-e2e');
    const window = fastTrace(tracer, 'file-w1');
    const slow = new TraceRecorder(tracer, 'file-slow');
    const now = Date.now();
    const root = slow.start('GET /report', now - 800);
    slow.start('render', now - 700, root).end(now - 100);
    root.end(now);
    // Writes the file now rather than after writeDelayMs.
    await recorder.forceFlush();
    const [flush] = flushes;
    if (flush === undefined || flushes.length !== 1) throw new Error(`${flushes.length} flushes`);
    return { serviceName, slow: slow.expected(), window, flush, writes };
  } finally {
    await provider.shutdown();
  }
}

// The instrumented node:http service of scenario 2, run as its own process by
// bench/http.ts. argv[2] is the tracing mode: `off` (no SDK: the API's no-op
// tracer), `a` (SDK, no processor), `b` (BatchSpanProcessor discarding),
// `c` (BatchSpanProcessor + OTLP exporter),
// `d` (recorder, no triggers), `e` (recorder, error trigger, window scope).
// It answers IPC messages: `start` begins a measured period, `stop` ends it
// and reports the CPU this process used for the requests it served.
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { FlightRecorderSpanProcessor } from '../../src/index.js';
import { RuntimeEvents } from '../../src/runtime/runtime-events.js';
import { DiscardingExporter } from './discarding-exporter.js';
import { emitChildren } from './workload.js';

type Mode = 'off' | 'a' | 'b' | 'c' | 'd' | 'e';

const mode = process.argv[2] as Mode;
const url = process.env.BENCH_RECEIVER_URL;
if (!['off', 'a', 'b', 'c', 'd', 'e'].includes(mode) || url === undefined) {
  throw new Error(
    `usage: http-service.ts off|a|b|c|d|e, with BENCH_RECEIVER_URL set (got ${mode})`,
  );
}

/** One request in this many fails with a 500 once a measured period has started. */
const FAIL_EVERY = 100;

/** With BENCH_SPIN_NS in mode `a` (bench/http-spin.ts): a processor that only spins that long per span. */
const spinNs = mode === 'a' ? Number(process.env.BENCH_SPIN_NS ?? 0) : 0;

function spinner(ns: number): SpanProcessor {
  return {
    onStart() {},
    onEnd() {
      const until = performance.now() + ns / 1e6;
      while (performance.now() < until);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

let recorder: FlightRecorderSpanProcessor | undefined;
let provider: NodeTracerProvider | undefined;
if (mode !== 'off') {
  if (mode === 'd' || mode === 'e') {
    // The default export path: pre-encoded OTLP protobuf, configured by env.
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = url;
    recorder = new FlightRecorderSpanProcessor({
      triggers: mode === 'e' ? ['error'] : [],
      flushScope: 'window',
    });
  }
  provider = new NodeTracerProvider({
    spanProcessors:
      mode === 'b'
        ? [new BatchSpanProcessor(new DiscardingExporter())]
        : mode === 'c'
          ? [new BatchSpanProcessor(new OTLPTraceExporter({ url }))]
          : recorder !== undefined
            ? [recorder]
            : spinNs > 0
              ? [spinner(spinNs)]
              : [],
  });
  provider.register();
  new HttpInstrumentation();
}

// Loaded after the instrumentation is set up, so that it is patched.
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
const tracer = trace.getTracer('bench-service', '1.0.0');

/**
 * With BENCH_RUNTIME_TOGGLE_MS set (scenario 5), the measured period is cut
 * into slices of that many ms, from its first request on, and runtime
 * capture (the recorder's GC observer and stall detector, as
 * `runtimeEvents: true` starts them) runs in one slice of each pair, the
 * order alternating pair by pair (on off, off on, ...), so the capture's cost
 * is measured against the same process a moment before or after. Each slice
 * reports its CPU per request; slices 2k and 2k + 1 are a pair.
 */
const toggleMs = Number(process.env.BENCH_RUNTIME_TOGGLE_MS ?? 0);
const slices: { on: boolean; cpuUsPerRequest: number | null }[] = [];
let toggle: ReturnType<typeof setTimeout> | undefined;
/** Slicing starts at the first request of the measured period. */
let armed = false;
let capture: RuntimeEvents | undefined;
let slice = -1;
let sliceCpu = process.cpuUsage();
let sliceRequests = 0;

function captureOn(on: boolean): void {
  if (on && capture === undefined) {
    capture = new RuntimeEvents(
      { stallThresholdMs: 50, stallTriggerMs: 1_000, minAgeMs: 10_000 },
      { triggerWindow: () => {}, now: () => Date.now() },
    );
  } else if (!on && capture !== undefined) {
    capture.stop();
    capture = undefined;
  }
}

/** Ends the current slice (recording its CPU per request; null when it served none) and starts the next. */
function nextSlice(): void {
  if (slice >= 0) {
    const cpu = process.cpuUsage(sliceCpu);
    const served = requests - sliceRequests;
    slices.push({
      on: capture !== undefined,
      cpuUsPerRequest: served > 0 ? (cpu.user + cpu.system) / served : null,
    });
  }
  slice++;
  const pair = slice >> 1;
  captureOn((slice & 1) === (pair & 1));
  sliceCpu = process.cpuUsage();
  sliceRequests = requests;
}

let measuring = false;
let requests = 0;
let counter = 0;
let cpu0 = process.cpuUsage();
let requests0 = 0;

const server = http.createServer((req, res) => {
  if (armed) {
    armed = false;
    nextSlice();
    toggle = setInterval(nextSlice, toggleMs);
  }
  requests++;
  const i = counter++;
  // The same handler in every mode: five child spans of the server span.
  emitChildren(tracer, context.active(), i);
  const fail = measuring && i % FAIL_EVERY === FAIL_EVERY >> 1;
  const body = JSON.stringify({ id: `u${i}`, path: req.url, plan: 'pro', ok: !fail });
  res.writeHead(fail ? 500 : 200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${port}/users/42` });
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'start') {
    measuring = true;
    counter = 0;
    requests0 = requests;
    cpu0 = process.cpuUsage();
    armed = toggleMs > 0;
    process.send?.({ type: 'started' });
  } else if (message.type === 'stop') {
    const cpu = process.cpuUsage(cpu0);
    // The slice under way is cut short: it is not reported.
    armed = false;
    if (toggle !== undefined) {
      clearInterval(toggle);
      captureOn(false);
    }
    process.send?.({
      type: 'stopped',
      cpuUs: cpu.user + cpu.system,
      requests: requests - requests0,
      recorder: recorder?.stats(),
      ...(toggleMs > 0 ? { slices } : {}),
    });
  } else if (message.type === 'exit') {
    server.close();
    server.closeAllConnections();
    void (provider?.shutdown() ?? Promise.resolve()).finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

/**
 * The otel-flight-recorder demo: a small HTTP service, traced with NodeSDK and
 * the HTTP instrumentation, under a built-in load. The recorder keeps every
 * span in memory and exports only slow or failed requests (and the window
 * before them): as one OTLP JSON file per flush, and to a collector as well
 * when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 *
 *   npm start                         runs until Ctrl-C
 *   npm start -- --duration 10000     runs 10 s (or DEMO_DURATION_MS=10000)
 *
 * Environment: PORT (8080), HOST (127.0.0.1), DEMO_RPS (3),
 * FLIGHT_RECORDER_SNAPSHOT_DIR (flight-recorder-snapshots),
 * FLIGHT_RECORDER_* thresholds, OTEL_EXPORTER_OTLP_ENDPOINT, JAEGER_UI_URL.
 */
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import {
  FanOutSpanExporter,
  FileSpanExporter,
  FlightRecorderSpanProcessor,
  type FlushInfo,
  type SnapshotFileWrite,
} from '../src/index.js';
import { startLoad } from './load.js';

const env = process.env;

// Demo defaults, applied only when not given, so a user's value (even a
// malformed one, which the recorder warns about) always wins.
// Slow means slower than the route's recent p99; 300 ms until a route has
// enough requests for one (200).
env.FLIGHT_RECORDER_LATENCY_THRESHOLD_MS ??= 'p99';
env.FLIGHT_RECORDER_LATENCY_FLOOR_MS ??= '300';
env.FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS ??= '10000';
env.OTEL_SERVICE_NAME ??= 'flight-recorder-demo';

// The recorder reports bad settings and export failures through diag.
diag.setLogger(new DiagConsoleLogger(), {
  logLevel: DiagLogLevel.WARN,
  suppressOverrideMessage: true,
});

function durationMs(): number | undefined {
  const args = process.argv.slice(2);
  let raw = env.DEMO_DURATION_MS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--duration') raw = args[++i];
    else if (arg.startsWith('--duration=')) raw = arg.slice('--duration='.length);
  }
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) {
    console.error(`demo: ignoring duration ${JSON.stringify(raw)}: expected milliseconds > 0`);
    return undefined;
  }
  return ms;
}

function positiveNumber(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isFinite(n) && n > 0) return n;
  console.error(`demo: ignoring ${name}=${JSON.stringify(raw)}: expected a number > 0`);
  return fallback;
}

/** The OTLP/HTTP traces URL from the environment, as OTLPTraceExporter resolves it; undefined when none is set. */
function otlpTracesUrl(): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

function shortPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

const otlpUrl = otlpTracesUrl();
const jaegerUi = (env.JAEGER_UI_URL || 'http://localhost:16686').replace(/\/+$/, '');

// One line per flush, printed when its file is written, since only then is
// the path known. onFlush fires first and leaves what only it knows here.
const flushes = new Map<string, FlushInfo>();
const line = (text: string) => process.stdout.write(`${text}\n`);

function onFlush(flush: FlushInfo): void {
  flushes.set(flush.snapshotId, flush);
  if (flushes.size > 1000) flushes.delete(flushes.keys().next().value as string);
}

function onWrite(write: SnapshotFileWrite): void {
  const flush = write.snapshotId === undefined ? undefined : flushes.get(write.snapshotId);
  if (write.snapshotId !== undefined) flushes.delete(write.snapshotId);
  const where = write.path
    ? `file=${shortPath(write.path)}`
    : `file=NOT WRITTEN (${write.error?.message ?? 'unknown error'})`;
  if (flush === undefined) {
    // Spans of a flush already written: late children, or a flush split in two.
    line(`flight-recorder: more snapshot=${write.snapshotId ?? '-'} spans=${write.spans} ${where}`);
    return;
  }
  const traceId = flush.traceId ?? '-';
  const jaeger = otlpUrl && flush.traceId ? ` jaeger=${jaegerUi}/trace/${flush.traceId}` : '';
  line(
    `flight-recorder: flush trigger=${flush.trigger} trace=${traceId} spans=${write.spans} traces=${flush.traces} logs=${flush.logs} scope=${flush.scope} snapshot=${flush.snapshotId} ${where}${jaeger}`,
  );
}

/**
 * The OTLP exporter. Unless OTEL_EXPORTER_OTLP_*TIMEOUT says otherwise, an
 * export gives up (retries included) after 3 s rather than 10 s: the fan-out
 * waits for it, so a collector that is down would otherwise hold back the
 * snapshot files too.
 */
function otlpExporter(): OTLPTraceExporter {
  const timeoutSet = env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT || env.OTEL_EXPORTER_OTLP_TIMEOUT;
  return new OTLPTraceExporter(timeoutSet ? {} : { timeoutMillis: 3000 });
}

const files = new FileSpanExporter({ onWrite });
const exporter: SpanExporter = otlpUrl ? new FanOutSpanExporter([otlpExporter(), files]) : files;
const recorder = new FlightRecorderSpanProcessor({ exporter, onFlush });

const sdk = new NodeSDK({
  spanProcessors: [recorder],
  // Every pino line is recorded, DEBUG included, and goes out only with its
  // trace's flush: as events on its spans (in the files, and in Jaeger) and,
  // with a collector, over OTLP logs too.
  logRecordProcessors: [recorder.logRecordProcessor({ exportLogs: otlpUrl !== undefined })],
  instrumentations: [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => req.url === '/healthz',
    }),
    new PinoInstrumentation(),
  ],
  // No metrics pipeline trying to reach a collector.
  metricReaders: [],
});
sdk.start();

// Imported after sdk.start() so the HTTP instrumentation patches node:http first.
const { createService, ENDPOINTS } = await import('./service.js');

const server = createService();
const host = env.HOST || '127.0.0.1';
const wantedPort = positiveOrZeroPort(env.PORT);

function positiveOrZeroPort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8080;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 0 && n < 65536) return n;
  console.error(`demo: ignoring PORT=${JSON.stringify(raw)}: expected 0-65535; using 8080`);
  return 8080;
}

async function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

let port: number;
try {
  port = await listen(wantedPort);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || env.PORT) throw error;
  // Port 8080 is taken and none was asked for: any free port will do.
  port = await listen(0);
}

const baseUrl = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
const rps = positiveNumber('DEMO_RPS', 3);
const duration = durationMs();
const snapshotDir = path.resolve(files.directory);

line(
  `flight-recorder demo: serving http://${host}:${port} (GET /checkout, /search, /recommendations)`,
);
line(
  `  load: ${rps} requests/s built in; latency threshold FLIGHT_RECORDER_LATENCY_THRESHOLD_MS=${env.FLIGHT_RECORDER_LATENCY_THRESHOLD_MS} (floor FLIGHT_RECORDER_LATENCY_FLOOR_MS=${env.FLIGHT_RECORDER_LATENCY_FLOOR_MS}), window flushes at most every FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS=${env.FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS}`,
);
if (otlpUrl) {
  line(`  exporting flushes over OTLP/HTTP to ${otlpUrl}; see them at ${jaegerUi}`);
  line(`  and writing each flush as one OTLP JSON file to ${snapshotDir}`);
} else {
  line(
    `  no OTEL_EXPORTER_OTLP_ENDPOINT set: writing each flush as one OTLP JSON file to ${snapshotDir}`,
  );
  line('  (set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 to send them to a collector too)');
}
line(duration ? `  running for ${duration} ms` : '  press Ctrl-C to stop');

const load = startLoad(baseUrl, ENDPOINTS, rps);

const statusEvery = positiveNumber('DEMO_STATUS_INTERVAL_MS', 30_000);
const status = setInterval(() => {
  line(`flight-recorder: status ${summary()}`);
  line(`flight-recorder: slow means ${thresholds()}`);
}, statusEvery);
status.unref();

/** What the recorder considers slow now, per route: `GET /checkout > 412 ms, …`. */
function thresholds(): string {
  const entries = Object.entries(recorder.stats().latencyThresholdsMs);
  if (entries.length === 0) return 'no latency trigger';
  return entries.map(([route, ms]) => `${route} > ${Math.round(ms)} ms`).join(', ');
}

function summary(): string {
  const l = load.stats;
  const s = recorder.stats();
  let suppressed = 0;
  for (const n of Object.values(s.triggersSuppressed)) suppressed += n;
  return `requests=${l.sent} ok=${l.ok} 5xx=${l.serverErrors} failed=${l.failed} flushes=${s.flushes} triggersSuppressed=${suppressed} spansExported=${s.spansExported} spansDropped=${s.spansDropped} exportFailures=${s.exportFailures} logsRecorded=${s.logsRecorded} logsAsSpanEvents=${s.logsAsSpanEvents} logsExported=${s.logsExported}`;
}

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  line(`flight-recorder demo: stopping (${reason})`);
  clearInterval(status);
  await load.stop();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Writes the flushes still held; bounded, so a collector that hangs cannot keep us here.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    sdk.shutdown().catch((error: unknown) => {
      console.error(`demo: SDK shutdown failed: ${error}`);
    }),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 10_000);
    }),
  ]);
  clearTimeout(timer);
  line(`flight-recorder: slow means ${thresholds()}`);
  line(`flight-recorder demo: stopped; ${summary()}`);
  process.exit(0);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    void stop(signal);
  });
}
if (duration) setTimeout(() => void stop(`${duration} ms elapsed`), duration);

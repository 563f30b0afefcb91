// The soak run: an instrumented HTTP service under steady load, 2% of its
// requests failing (each failure triggers a flush), exporting through the
// real OTLPTraceExporter to a collector process that is killed (SIGKILL) and
// restarted on the same port every minute. It records the service's RSS,
// heap and event-loop delay over time, the recorder's counters, and checks
// that every triggered trace reached the collector complete, or that what
// did not is counted in stats().spansDropped. Not part of CI.
//
//   npm run soak                         10 minutes, writes its section of bench/RESULTS.md
//   npx tsx bench/soak.ts --duration 60000 --restart-every 20000   a short run, stdout only
//
// Options (ms unless said): --duration 600000, --restart-every 60000,
// --down 5000 (how long the collector stays dead), --rate 100 (requests/s),
// --sample 10000, --warmup 120000 (RSS flatness is judged after it),
// --write (replace the soak section of bench/RESULTS.md).
//
// The same file plays three roles: the orchestrator (no --role), the
// service (--role service) and the collector (--role collector); and a
// fourth, run alone: --role worst-case measures the recorder's worst-case
// memory (see runWorstCase).
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { FlightRecorderSpanProcessor, type FlightRecorderStats } from '../src/index.js';
import { nextMessage } from './lib/ipc.js';
import { machineMarkdown } from './lib/machine.js';
import { SOAK_END, SOAK_START } from './lib/report.js';
import { emitChildren } from './lib/workload.js';

const SELF = fileURLToPath(import.meta.url);
const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
const START_MARK = SOAK_START;
const END_MARK = SOAK_END;
/** One request in this many fails with a 500: 2%. */
const FAIL_EVERY = 50;
/** A request's trace: the server span and the 5 children of bench/lib/workload.ts. */
const SPANS_PER_TRACE = 6;

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} needs a number`);
  return value;
}

function role(): string | undefined {
  const at = process.argv.indexOf('--role');
  return at === -1 ? undefined : process.argv[at + 1];
}

interface Sample {
  atMs: number;
  rssBytes: number;
  heapBytes: number;
  loopP99Ms: number;
  loopMaxMs: number;
  stats: FlightRecorderStats;
}

// ---------------------------------------------------------------- collector

/** An OTLP/HTTP JSON collector that reports every span id it receives before answering. */
function runCollector(): void {
  const port = arg('port', 0);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const ids: string[] = [];
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? []) ids.push(`${s.traceId}/${s.spanId}`);
      } catch {
        res.writeHead(400).end();
        return;
      }
      // Reported first: a kill between the two loses no record of a delivery.
      process.send?.({ type: 'spans', ids }, () => {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ type: 'listening', port: typeof address === 'object' ? address?.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

// ------------------------------------------------------------------ service

/** The instrumented service with the recorder at its defaults, exporting to the collector. */
function runService(): void {
  const url = process.env.SOAK_COLLECTOR_URL!;
  const sampleMs = arg('sample', 10_000);
  const triggered = new Set<string>();
  let fresh: string[] = [];
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new OTLPTraceExporter({ url }),
    onFlush: (flush) => {
      if (flush.traceId !== undefined && !triggered.has(flush.traceId)) {
        triggered.add(flush.traceId);
        fresh.push(flush.traceId);
      }
    },
  });
  const provider = new NodeTracerProvider({ spanProcessors: [recorder] });
  provider.register();
  new HttpInstrumentation();
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const tracer = trace.getTracer('soak-service', '1.0.0');
  const started = performance.now();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let throws = 0;
  process.on('uncaughtException', (error) => {
    throws++;
    process.stderr.write(`soak service: uncaught ${String(error)}\n`);
  });

  let counter = 0;
  const server = http.createServer((req, res) => {
    const i = counter++;
    emitChildren(tracer, context.active(), i);
    const fail = i % FAIL_EVERY === FAIL_EVERY >> 1;
    const body = JSON.stringify({ id: `u${i}`, path: req.url, ok: !fail });
    res.writeHead(fail ? 500 : 200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;

  const sample = (): Sample & { triggered: string[]; throws: number } => {
    const memory = process.memoryUsage();
    const s = {
      atMs: performance.now() - started,
      rssBytes: memory.rss,
      heapBytes: memory.heapUsed,
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
      stats: recorder.stats(),
      triggered: fresh,
      throws,
    };
    fresh = [];
    loop.reset();
    return s;
  };
  const sampler = setInterval(() => process.send?.({ type: 'sample', ...sample() }), sampleMs);
  sampler.unref();

  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.send?.({ type: 'listening', url: `http://127.0.0.1:${port}/users/42` });
  });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'drain') {
      // Waits for what is queued, then reports the final figures.
      void recorder.forceFlush().then(() => process.send?.({ type: 'drained', ...sample() }));
    } else if (message.type === 'exit') {
      clearInterval(sampler);
      server.close();
      server.closeAllConnections();
      void provider.shutdown().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// --------------------------------------------------------------- worst case

/**
 * The recorder's worst case for memory, measured: a full buffer, a full
 * export queue behind a collector that accepts and never answers, and
 * exports given up on (exportTimeoutMs below the exporter's own timeout, so
 * the exporter still holds their requests). Prints what is retained after a
 * full GC (`heapUsed + arrayBuffers`: the ring and the request bodies are
 * array buffers) against maxBytes, in four states: the buffer full; the
 * buffer full again with a full window waiting for export; once every
 * export was given up on and the queue is empty; and once the exporter's own
 * timeout has passed, so it holds no request either. `--exporter default` (the
 * default) exports as a user who configures OTLP by env does (pre-encoded
 * protobuf through the SDK's transport); `--exporter otlp-json` passes an
 * `OTLPTraceExporter`, which gets decoded spans. Run:
 *   node --expose-gc --import tsx bench/soak.ts --role worst-case [--exporter otlp-json]
 */
async function runWorstCase(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const maxBytes = arg('max-bytes', 16 * 2 ** 20);
  const exportTimeoutMs = arg('export-timeout', 300);
  const hangMs = arg('hang', 6_000);
  // Counts what reached it: how many requests the exporter still holds, and their size.
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req) => {
    received.requests++;
    req.on('data', (chunk: Buffer) => (received.bytes += chunk.length));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' ? address?.port : 0}/v1/traces`;
  const { TracerProvider } = await import('@opentelemetry/sdk-trace');
  const { emitTrace } = await import('./lib/workload.js');
  const settleHeap = async () => {
    for (let i = 0; i < 4; i++) {
      await sleep(20);
      gc();
    }
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const exporterArg = process.argv[process.argv.indexOf('--exporter') + 1];
  const path = process.argv.includes('--exporter') ? exporterArg : 'default';
  if (path !== 'default' && path !== 'otlp-json') {
    throw new Error(`--exporter is default or otlp-json, not ${exporterArg}`);
  }
  if (path === 'default') process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = url;
  // Before the recorder exists: its ring is allocated when it is made.
  const base = await settleHeap();
  const recorder = new FlightRecorderSpanProcessor({
    ...(path === 'otlp-json' ? { exporter: new OTLPTraceExporter({ url }) } : {}),
    maxBytes,
    exportTimeoutMs,
    minAgeMs: 3_600_000,
    minFlushIntervalMs: 0,
    triggers: ['error'],
  });
  const tracer = new TracerProvider({ spanProcessors: [recorder] }).getTracer('worst-case');
  let i = 0;
  const fill = async () => {
    const evicted = recorder.stats().spansEvictedByBytes;
    while (recorder.stats().spansEvictedByBytes === evicted) {
      for (let k = 0; k < 50; k++) emitTrace(tracer, i++, false);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await fill();
  const full = (await settleHeap()) - base;
  // A failing request flushes the whole window into the export queue; the
  // collector never answers, so batch after batch times out and is dropped
  // while the app fills the buffer again.
  emitTrace(tracer, i++, true);
  await fill();
  const until = performance.now() + hangMs;
  while (performance.now() < until) {
    for (let k = 0; k < 10; k++) emitTrace(tracer, i++, false);
    await sleep(10);
  }
  const stats = recorder.stats();
  const worst = (await settleHeap()) - base;
  // Every export given up on, one exportTimeoutMs after another (bounded wait).
  const drainBy = performance.now() + 120_000;
  while (recorder.stats().queuedBytes > 0 && performance.now() < drainBy) await sleep(100);
  const drainedStats = recorder.stats();
  const drained = (await settleHeap()) - base;
  // Once the exporter's own timeout has passed for the last request it was
  // handed, it lets go of the requests it held.
  const exporterTimeoutMs =
    Number(
      process.env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? process.env.OTEL_EXPORTER_OTLP_TIMEOUT,
    ) || 10_000;
  const heldRequests = { ...received };
  await sleep(exporterTimeoutMs + 1_000);
  const released = (await settleHeap()) - base;
  process.stdout.write(
    JSON.stringify({
      exporter: path,
      maxBytes,
      exportTimeoutMs,
      fullBufferRetained: full,
      fullOverMaxBytes: full / maxBytes,
      worstRetained: worst,
      worstOverMaxBytes: worst / maxBytes,
      bufferedBytes: stats.bufferedBytes,
      queuedBytes: stats.queuedBytes,
      drainedRetained: drained,
      drainedOverMaxBytes: drained / maxBytes,
      drainedBufferedBytes: drainedStats.bufferedBytes,
      drainedQueuedBytes: drainedStats.queuedBytes,
      requestsReceived: heldRequests.requests,
      bytesReceived: heldRequests.bytes,
      exporterTimeoutMs,
      releasedRetained: released,
      releasedOverMaxBytes: released / maxBytes,
      exportFailures: drainedStats.exportFailures,
      spansDropped: drainedStats.spansDropped,
    }) + '\n',
  );
  server.closeAllConnections();
  server.close();
  process.exit(0);
}

// ------------------------------------------------------------- orchestrator

function startChild(roleName: string, args: string[], env: Record<string, string> = {}) {
  return fork(SELF, ['--role', roleName, ...args], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Steady load at `rate` requests/s from `connections` keep-alive connections. */
function load(url: string, rate: number, connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const counts = { ok: 0, failed: 0, errors: 0 };
  let running = true;
  const interval = (1000 * connections) / rate;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent }, (res) => {
        if (res.statusCode === 200) counts.ok++;
        else if (res.statusCode === 500) counts.failed++;
        else counts.errors++;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => {
        counts.errors++;
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: connections }, async (_, k) => {
    await sleep((interval * k) / connections);
    let next = performance.now();
    while (running) {
      await one();
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
  });
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function orchestrate(): Promise<void> {
  const durationMs = arg('duration', 600_000);
  const restartEveryMs = arg('restart-every', 60_000);
  const downMs = arg('down', 5_000);
  const rate = arg('rate', 100);
  const sampleMs = arg('sample', 10_000);
  const warmupMs = arg('warmup', Math.min(120_000, durationMs / 5));
  const log = (m: string) => process.stderr.write(`soak: ${m}\n`);

  // The collector; every span id it ever received, across restarts.
  const received = new Set<string>();
  let collector: ChildProcess | undefined;
  let port = 0;
  let restarts = 0;
  const startCollector = async () => {
    for (let attempt = 0; ; attempt++) {
      const child = startChild('collector', ['--port', String(port)]);
      child.on('message', (m: { type: string; ids?: string[] }) => {
        if (m.type === 'spans') for (const id of m.ids!) received.add(id);
      });
      try {
        port = (await nextMessage<{ port: number }>(child, 'listening', 'collector')).port;
        collector = child;
        return;
      } catch (error) {
        // The port may not be free again yet.
        if (attempt >= 20) throw error;
        await sleep(250);
      }
    }
  };
  await startCollector();
  const collectorUrl = `http://127.0.0.1:${port}/v1/traces`;

  const service = startChild('service', ['--sample', String(sampleMs)], {
    SOAK_COLLECTOR_URL: collectorUrl,
  });
  let serviceExit: number | null | undefined;
  service.on('exit', (code) => (serviceExit = code));
  const samples: Sample[] = [];
  const triggered: string[] = [];
  let throws = 0;
  service.on('message', (m: Sample & { type: string; triggered: string[]; throws: number }) => {
    if (m.type !== 'sample') return;
    samples.push(m);
    triggered.push(...m.triggered);
    throws = m.throws;
    log(
      `${(m.atMs / 1000).toFixed(0)} s: rss ${mib(m.rssBytes)} MiB, heap ${mib(m.heapBytes)} MiB, ` +
        `loop p99 ${m.loopP99Ms.toFixed(1)} ms, exported ${m.stats.spansExported}, dropped ${m.stats.spansDropped}`,
    );
  });
  const { url } = await nextMessage<{ url: string }>(service, 'listening', 'service');
  log(`service at ${url}, collector at ${collectorUrl}; ${durationMs / 1000} s at ${rate} req/s`);

  const traffic = load(url, rate, 8);
  const started = performance.now();
  // The collector dies every restartEveryMs and comes back after downMs.
  while (performance.now() - started + restartEveryMs <= durationMs) {
    await sleep(restartEveryMs - downMs);
    log('killing the collector');
    collector!.kill('SIGKILL');
    await new Promise((resolve) => collector!.once('exit', resolve));
    await sleep(downMs);
    await startCollector();
    restarts++;
  }
  await sleep(Math.max(0, durationMs - (performance.now() - started)));
  await traffic.stop();
  log('load stopped; draining the export queue');

  service.send({ type: 'drain' });
  const final = await nextMessage<Sample & { triggered: string[]; throws: number }>(
    service,
    'drained',
    'service',
  );
  triggered.push(...final.triggered);
  throws = final.throws;
  // Let the last answers' reports arrive.
  await sleep(500);
  service.send({ type: 'exit' });
  await new Promise((resolve) =>
    serviceExit === undefined ? service.once('exit', resolve) : resolve(0),
  );
  collector!.kill('SIGKILL');

  // What reached the collector of each triggered trace.
  const perTrace = new Map<string, number>();
  for (const id of received) {
    const traceId = id.slice(0, id.indexOf('/'));
    perTrace.set(traceId, (perTrace.get(traceId) ?? 0) + 1);
  }
  const complete = triggered.filter((t) => perTrace.get(t) === SPANS_PER_TRACE).length;
  const missingSpans = triggered.reduce(
    (n, t) => n + SPANS_PER_TRACE - Math.min(SPANS_PER_TRACE, perTrace.get(t) ?? 0),
    0,
  );
  const stats = final.stats;
  const flushed = stats.spansExported + stats.spansDropped + stats.queuedSpans;
  const after = samples.filter((s) => s.atMs >= warmupMs);
  const rss = after.map((s) => s.rssBytes);
  const rssMedian = rss.length > 0 ? median(rss) : Number.NaN;
  const rssLow = (Math.min(...rss) / rssMedian - 1) * 100;
  const rssHigh = (Math.max(...rss) / rssMedian - 1) * 100;
  const flat = rss.length > 0 && rssLow >= -10 && rssHigh <= 10;
  const loopMax = Math.max(...samples.map((s) => s.loopMaxMs), final.loopMaxMs);
  const loopP99 = Math.max(...samples.map((s) => s.loopP99Ms), final.loopP99Ms);
  const accounted = received.size + stats.spansDropped >= flushed;
  const noThrow = throws === 0 && serviceExit === 0;

  const rows = [...samples, final].map(
    (s) =>
      `| ${s === final ? `${(s.atMs / 1000).toFixed(0)} (drained)` : (s.atMs / 1000).toFixed(0)} | ${mib(s.rssBytes)} | ${mib(s.heapBytes)} | ${s.loopP99Ms.toFixed(1)} | ${s.loopMaxMs.toFixed(1)} | ${s.stats.spansRecorded} | ${s.stats.spansExported} | ${s.stats.spansDropped} | ${s.stats.queuedSpans} |`,
  );
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const section = `## Soak

Written by \`npm run soak\` (\`bench/soak.ts\`; not in CI). ${durationMs / 60_000} minute${durationMs === 60_000 ? '' : 's'} of
HTTP load at ${rate} requests/s from 8 keep-alive connections against the instrumented
service of \`bench/lib/workload.ts\` (a server span and 5 children per request; one
request in ${FAIL_EVERY} answers 500, so its server span ends with ERROR and triggers a
flush), the recorder at its defaults (\`maxBytes\` 16 MiB, \`minAgeMs\` 10 s, window flushes
at most once a minute, \`exportTimeoutMs\` 30 s), exporting through the real
\`OTLPTraceExporter\` (its own 10 s timeout and retries) to a collector in its own process
that is killed with SIGKILL every ${restartEveryMs / 1000} s and restarted on the same port ${downMs / 1000} s later
(${restarts} restarts). The collector reports each span id before it answers. Samples every
${sampleMs / 1000} s from inside the service; RSS flatness is judged after a ${warmupMs / 1000} s warm-up.

| target | figure | verdict |
| --- | --- | --- |
| RSS flat after warm-up, within ±10% | median ${mib(rssMedian)} MiB, ${rssLow.toFixed(1)}% to +${rssHigh.toFixed(1)}% (${after.length} samples) | ${verdict(flat)} |
| no throw | ${throws} uncaught in the service, exit code ${serviceExit}; ${traffic.counts.errors} client errors | ${verdict(noThrow)} |
| every triggered trace exported complete, or counted as dropped | ${complete} of ${triggered.length} triggered traces complete at the collector; ${missingSpans} of their spans missing, ${stats.spansDropped} spans counted as dropped | ${verdict(accounted && missingSpans <= stats.spansDropped)} |

- Requests: ${traffic.counts.ok} answered 200, ${traffic.counts.failed} answered 500 (triggers), ${traffic.counts.errors} failed.
- Recorder at the end: ${stats.spansRecorded} spans recorded, ${stats.flushes} flushes (${Object.entries(
    stats.triggers,
  )
    .map(([k, v]) => `${k} ${v}`)
    .join(
      ', ',
    )}), ${flushed} spans flushed: ${stats.spansExported} exported, ${stats.spansDropped} dropped, ${stats.queuedSpans} still queued; ${stats.exportFailures} failed export calls.
- Collector: ${received.size} distinct spans received across restarts; every flushed span is either received or counted as dropped: ${accounted ? 'yes' : '**no**'} (${received.size} + ${stats.spansDropped} vs ${flushed}).
- Event loop of the service: worst p99 per sample ${loopP99.toFixed(1)} ms, longest delay ${loopMax.toFixed(1)} ms.

| t (s) | RSS (MiB) | heap (MiB) | loop p99 (ms) | loop max (ms) | recorded | exported | dropped | queued |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

### Machine

${machineMarkdown()}
`;
  process.stdout.write(`${section}\n`);
  if (process.argv.includes('--write')) {
    const document = readFileSync(RESULTS, 'utf8');
    const start = document.indexOf(START_MARK);
    const end = document.indexOf(END_MARK);
    const block = `${START_MARK}\n\n${section}\n${END_MARK}`;
    const next =
      start !== -1 && end > start
        ? document.slice(0, start) + block + document.slice(end + END_MARK.length)
        : `${document.trimEnd()}\n\n${block}\n`;
    writeFileSync(RESULTS, next);
    log('wrote the soak section of bench/RESULTS.md');
  }
}

const which = role();
if (which === 'collector') runCollector();
else if (which === 'service') runService();
else if (which === 'worst-case') await runWorstCase();
else await orchestrate();

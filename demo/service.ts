import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';

// Loaded through require, after the SDK has started, so the HTTP
// instrumentation (which hooks require) patches this very module. An ESM
// `import` of node:http would need the import-in-the-middle loader instead.
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof import('node:http');
// pino too, so instrumentation-pino adds its OTel stream. pino's own level is
// debug, so every DEBUG line reaches the recorder; what is written out (to
// stderr, keeping stdout for the recorder's lines) stays at warn.
const { pino, multistream } = require('pino') as typeof import('pino');
const log = pino({ level: 'debug' }, multistream([{ level: 'warn', stream: process.stderr }]));

const tracer = trace.getTracer('flight-recorder-demo');

/** The endpoints the load generator calls, with how often. */
export const ENDPOINTS: readonly { path: string; weight: number }[] = [
  { path: '/checkout', weight: 4 },
  { path: '/search?q=flight+recorder', weight: 4 },
  { path: '/recommendations', weight: 2 },
];

/** A failure of one task, which the handler turns into a 5xx response. */
class TaskError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A random task duration between 0 and 500 ms, mostly short: a task takes
 * more than 300 ms about 6% of the time, so a few requests are slow.
 */
function taskDuration(): number {
  return Math.round(500 * Math.random() ** 8);
}

/**
 * Runs `work` in a child span of the active span. A thrown error is recorded
 * on the span (`recordException`, status ERROR) and rethrown.
 */
async function task<T>(name: string, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      log.debug({ task: name }, `${name} started`);
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A task that sleeps a random time, then fails with `failRate` probability. */
function work(name: string, failRate = 0, failure?: () => TaskError): Promise<void> {
  return task(name, async (span) => {
    const ms = taskDuration();
    span.setAttribute('demo.duration_ms', ms);
    await sleep(ms);
    log.debug({ task: name, ms }, `${name} done in ${ms} ms`);
    if (Math.random() < failRate) throw failure?.() ?? new TaskError(`${name} failed`, 500);
  });
}

async function checkout(): Promise<string> {
  await Promise.all([
    work('inventory.reserve'),
    work('pricing.quote'),
    work(
      'payment.authorize',
      0.08,
      () => new TaskError('payment provider declined: card_error', 502),
    ),
  ]);
  // Fire-and-forget: it ends after the response, a late child of the trace.
  void task('audit.write', () => sleep(50 + Math.random() * 100)).catch(() => {});
  return 'order placed';
}

async function search(): Promise<string> {
  await Promise.all(
    [0, 1, 2, 3].map((shard) =>
      task(`search.shard ${shard}`, async (span) => {
        span.setAttribute('demo.shard', shard);
        await work('db.query', 0.02, () => new TaskError(`shard ${shard} timed out`, 504));
      }),
    ),
  );
  return '4 shards searched';
}

async function recommendations(): Promise<string> {
  await Promise.all([work('profile.load'), work('model.score', 0.03)]);
  return 'recommended: 3 items';
}

const ROUTES: Record<string, () => Promise<string>> = {
  '/checkout': checkout,
  '/search': search,
  '/recommendations': recommendations,
};

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  const route = req.method === 'GET' ? ROUTES[path] : undefined;
  // Name the server span after its route, as web frameworks' instrumentations
  // do: a percentile threshold is kept per local-root name.
  if (route !== undefined) trace.getActiveSpan()?.updateName(`GET ${path}`);
  if (route === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  log.debug({ path, method: req.method }, `handling ${req.method} ${path}`);
  try {
    const body = await route();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${body}\n`);
  } catch (error) {
    const status = error instanceof TaskError ? error.status : 500;
    // The server span (the HTTP instrumentation's) sets ERROR itself for a 5xx;
    // the exception event says why.
    trace.getActiveSpan()?.recordException(error as Error);
    log.error({ status, err: error }, `${path} failed: ${(error as Error).message}`);
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
  }
}

/** The demo service: a `node:http` server, not yet listening. */
export function createService(): Server {
  return http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
}

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import {
  freePorts,
  type ManagedProcess,
  startProcess,
  stopProcess,
  tailLog,
  waitUntil,
} from '../e2e/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The services of the chain, A calls B calls C. */
export const CHAIN = ['svc-a', 'svc-b', 'svc-c'] as const;
/** A loaded 2-core machine took 50 s to start one SDK process, and three start at once. */
const START_LIMIT_MS = 150_000;

export interface ServiceChain {
  readonly processes: readonly ManagedProcess[];
  /** A's base URL. */
  readonly base: string;
  /** GETs A's /chain in trace `traceId` (the caller's traceparent); resolves with the status. */
  request(traceId: string, query?: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the demo program three times (`demo/main.ts`, as docker-compose.yml
 * runs it): svc-a calls svc-b calls svc-c on GET /chain over real HTTP, W3C
 * trace-context propagated by the HTTP instrumentation. Each has its own
 * recorder (trace scope, latency threshold 1000 ms, no built-in load)
 * exporting over OTLP/HTTP to `otlpEndpoint`, and coordination through
 * `redisUrl`. Resolves once all three answer and Redis counts three
 * subscribers on the channel.
 */
export async function startServiceChain(options: {
  redisUrl: string;
  otlpEndpoint: string;
  dir: string;
  /** The three services' names, A first; {@link CHAIN} by default. */
  names?: readonly [string, string, string];
  /** Coordination's `targets` (FLIGHT_RECORDER_REDIS_TARGETS); broadcast by default. */
  targets?: 'broadcast' | 'breadcrumbs';
}): Promise<ServiceChain> {
  const names = options.names ?? CHAIN;
  const targets = options.targets ?? 'broadcast';
  const ports = await freePorts(3);
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('OTEL_') && !k.startsWith('FLIGHT_RECORDER_') && !k.startsWith('DEMO_')) {
      clean[k] = v;
    }
  }
  const processes: ManagedProcess[] = [];
  const stop = () => Promise.all(processes.map((p) => stopProcess(p))).then(() => {});
  try {
    // C first, so each service's downstream is up before it is called.
    for (let i = 2; i >= 0; i--) {
      const name = names[i]!;
      const env: NodeJS.ProcessEnv = {
        ...clean,
        NODE_OPTIONS: '',
        HOST: '127.0.0.1',
        PORT: String(ports[i]),
        OTEL_SERVICE_NAME: name,
        OTEL_EXPORTER_OTLP_ENDPOINT: options.otlpEndpoint,
        DEMO_LOAD: 'off',
        FLIGHT_RECORDER_REDIS_URL: options.redisUrl,
        FLIGHT_RECORDER_REDIS_TARGETS: targets,
        // Far above what a fast request takes on a loaded machine.
        FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: '1000',
        FLIGHT_RECORDER_FLUSH_SCOPE: 'trace',
        FLIGHT_RECORDER_SNAPSHOT_DIR: join(options.dir, name),
        ...(i < 2 ? { DEMO_DOWNSTREAM: `http://127.0.0.1:${ports[i + 1]}` } : {}),
      };
      const args = ['--import', 'tsx', join(ROOT, 'demo/main.ts')];
      const log = join(options.dir, `${name}.log`);
      processes.unshift(startProcess(name, process.execPath, args, log, env));
    }
    for (let i = 0; i < 3; i++) {
      await waitUntil(
        `${names[i]} to answer`,
        async () => (await fetch(`http://127.0.0.1:${ports[i]}/healthz`)).ok,
        { timeoutMs: START_LIMIT_MS, processes },
      );
    }
    const base = `http://127.0.0.1:${ports[0]}`;
    // Warm up: a process's first requests are slow (lazy loading, JIT), and
    // with breadcrumbs they teach B and C who calls them.
    for (let i = 0; i < 3; i++) {
      await (await fetch(`${base}/chain`, { signal: AbortSignal.timeout(20_000) })).arrayBuffer();
    }
    // Every service listens: Redis counts the subscribers of each channel.
    const ch = 'otel-flight-recorder';
    const expected: Record<string, number> =
      targets === 'broadcast'
        ? { [ch]: 3 }
        : {
            [`${ch}:after:${names[0]}`]: 2,
            [`${ch}:after:${names[1]}`]: 1,
            [`${ch}:to:${names[0]}`]: 1,
          };
    const client = createClient({ url: options.redisUrl });
    client.on('error', () => {});
    await client.connect();
    try {
      await waitUntil(
        'the subscribers on the channels',
        async () => {
          const counts = await client.pubSubNumSub(Object.keys(expected));
          return Object.entries(expected).every(([c, n]) => counts[c] === n);
        },
        { timeoutMs: 20_000, processes },
      );
    } finally {
      await client.close();
    }
  } catch (error) {
    for (const p of processes) console.error(tailLog(p, 40));
    await stop();
    throw error;
  }
  const base = `http://127.0.0.1:${ports[0]}`;
  return {
    processes,
    base,
    async request(traceId, query = '') {
      const response = await fetch(`${base}/chain${query}`, {
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
        signal: AbortSignal.timeout(20_000),
      });
      await response.arrayBuffer();
      return response.status;
    },
    stop,
  };
}

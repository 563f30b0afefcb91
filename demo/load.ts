import { Agent, get } from 'node:http';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

/** What the load generator has seen so far. */
export interface LoadStats {
  sent: number;
  ok: number;
  serverErrors: number;
  failed: number;
}

export interface LoadGenerator {
  readonly stats: LoadStats;
  /** Stops sending and resolves once the requests in flight have answered (at most `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

const MAX_IN_FLIGHT = 32;

/**
 * Calls `baseUrl` + a weighted random path `rps` times a second, in-process.
 * Its own client calls are not traced (suppressTracing), so each request's
 * server span is a trace root, as it would be behind a real client.
 */
export function startLoad(
  baseUrl: string,
  paths: readonly { path: string; weight: number }[],
  rps: number,
): LoadGenerator {
  const stats: LoadStats = { sent: 0, ok: 0, serverErrors: 0, failed: 0 };
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  const total = paths.reduce((n, p) => n + p.weight, 0);
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const pick = (): string => {
    let r = Math.random() * total;
    for (const p of paths) {
      r -= p.weight;
      if (r < 0) return p.path;
    }
    return paths[0]!.path;
  };

  const done = (): void => {
    inFlight--;
    if (inFlight === 0) idle?.();
  };

  const send = (): void => {
    if (inFlight >= MAX_IN_FLIGHT) return;
    inFlight++;
    stats.sent++;
    context.with(suppressTracing(context.active()), () => {
      const req = get(`${baseUrl}${pick()}`, { agent, timeout: 10_000 }, (res) => {
        if ((res.statusCode ?? 0) >= 500) stats.serverErrors++;
        else stats.ok++;
        res.resume();
        res.on('end', done);
        res.on('error', done);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', () => {
        stats.failed++;
        done();
      });
    });
  };

  const timer = setInterval(send, Math.max(1, Math.round(1000 / rps)));
  return {
    stats,
    async stop(timeoutMs = 2000) {
      clearInterval(timer);
      if (inFlight > 0) {
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            idle = resolve;
          }),
          new Promise<void>((resolve) => {
            t = setTimeout(resolve, timeoutMs);
          }),
        ]);
        clearTimeout(t);
      }
      agent.destroy();
    },
  };
}

/** No load: for a service of a chain that only the first one calls. */
export function noLoad(): LoadGenerator {
  return { stats: { sent: 0, ok: 0, serverErrors: 0, failed: 0 }, stop: async () => {} };
}

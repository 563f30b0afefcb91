import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** Where `redis-server` is, or undefined when it is not installed. */
function findRedisServer(): string | undefined {
  const ran = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return ran.status === 0 ? 'redis-server' : undefined;
}

const binary = findRedisServer();

/**
 * The `skip` option for tests that need a real Redis: a message outside CI
 * when `redis-server` is missing; in CI (env `CI`) never, so they fail there
 * (`.ci/run` installs it).
 */
export function skipWithoutRedis(): string | false {
  if (binary !== undefined || process.env.CI) return false;
  return 'redis-server is not installed (apt-get install redis-server); these tests need a real Redis';
}

/** A free loopback port, as the kernel hands one out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  /** `redis://127.0.0.1:<port>` (or `rediss://` with TLS). */
  readonly url: string;
  /** Stops it by pid (SIGTERM, then SIGKILL after 5 s); resolves once it exited. */
  stop(): Promise<void>;
  /** Kills it at once by pid, as a crash would. */
  kill(): Promise<void>;
}

/**
 * Starts a real `redis-server` on `port` (a free loopback one by default),
 * with no persistence (`--save '' --appendonly no`), and resolves once it
 * accepts connections (within 20 s). `extra` are more config directives.
 */
export async function startRedis(
  options: { port?: number; extra?: readonly string[]; tls?: boolean } = {},
): Promise<RedisServer> {
  if (binary === undefined) {
    throw new Error('redis-server is not installed: apt-get install -y redis-server');
  }
  const port = options.port ?? (await freePort());
  const portArgs = options.tls
    ? ['--port', '0', '--tls-port', String(port)]
    : ['--port', String(port)];
  const child = spawn(
    binary,
    [
      ...portArgs,
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      ...(options.extra ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(new Error(`redis-server did not start within 20 s: ${output}`));
    }, 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    port,
    pid: child.pid!,
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => kill(child), 5_000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      kill(child);
      await exited;
    },
  };
}

function kill(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, 'SIGKILL');
  }
}

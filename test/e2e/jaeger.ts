import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  answers,
  freePorts,
  LOOPBACK,
  type ManagedProcess,
  startProcess,
  stopProcess,
  tailLog,
  waitUntil,
} from './processes.js';

const here = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = join(here, '..', '..');
export const BUILD_SCRIPT = join(here, 'build-jaeger.sh');
export const COLLECTOR_CONFIG = join(REPO_ROOT, 'collector-config.yaml');

/** The exit code build-jaeger.sh uses when there is no Go toolchain. */
const EXIT_NO_GO = 3;
/** A cold build compiles the whole collector distribution: minutes on 2 cores. */
const BUILD_TIMEOUT_MS = 30 * 60_000;
const STARTUP_TIMEOUT_MS = 30_000;

export type JaegerBinary =
  { kind: 'ready'; path: string; buildMs: number } | { kind: 'no-go'; message: string };

/**
 * Runs build-jaeger.sh, which reuses the cached binary or builds it, with its
 * output in `logFile`. Resolves to the binary's path, or to `no-go` when the
 * binary is missing and Go is not installed; rejects on any other failure.
 */
export async function ensureJaegerBinary(logFile: string): Promise<JaegerBinary> {
  const started = Date.now();
  const fd = openSync(logFile, 'a');
  const child = spawn('bash', [BUILD_SCRIPT], {
    stdio: ['ignore', 'pipe', fd],
    // Its own process group, so a timed-out build is stopped with its compilers.
    detached: true,
  });
  closeSync(fd);
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  const timer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, BUILD_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    },
  ).finally(() => clearTimeout(timer));
  if (code === EXIT_NO_GO) {
    return {
      kind: 'no-go',
      message:
        'Go is not installed, so the Jaeger binary cannot be built. Install Go >= 1.24 and run ' +
        '`npm run test:e2e` (or point JAEGER_BIN at a Jaeger v2 binary).',
    };
  }
  if (code !== 0) {
    const how =
      signal !== null ? `was killed (${signal}, limit ${BUILD_TIMEOUT_MS} ms)` : `exited ${code}`;
    throw new Error(`build-jaeger.sh ${how}; its log is ${logFile}`);
  }
  const path = stdout.trim().split('\n').pop() ?? '';
  if (path === '') throw new Error(`build-jaeger.sh printed no binary path; its log is ${logFile}`);
  return { kind: 'ready', path, buildMs: Date.now() - started };
}

/** Runs `jaeger validate --config <file>`; resolves to its output, rejects when invalid. */
export async function validateConfig(binary: string, configFile: string): Promise<string> {
  const child = spawn(binary, ['validate', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JAEGER_LISTEN_HOST: LOOPBACK },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), STARTUP_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => clearTimeout(timer));
  if (code !== 0) throw new Error(`jaeger validate exited ${code}:\n${output}`);
  return output;
}

/** Storage and query: Jaeger's own all-in-one configuration, in memory. */
export interface JaegerBackend {
  readonly process: ManagedProcess;
  /** Base URL of the query service (HTTP API and, in a full build, the UI). */
  readonly queryUrl: string;
  /** host:port of its OTLP gRPC receiver, which the collector exports to. */
  readonly otlpGrpcEndpoint: string;
}

/**
 * Starts Jaeger with its built-in all-in-one configuration (no `--config`),
 * overriding with `--set` what a test needs: every listener on a free
 * loopback port, only the OTLP receiver, no self-metrics endpoint. Resolves
 * once the query API answers.
 */
export async function startJaegerBackend(binary: string, logFile: string): Promise<JaegerBackend> {
  const [otlpGrpc, otlpHttp, queryHttp, queryGrpc] = await freePorts(4);
  const sets = [
    // The sampling, expvar, zpages and health extensions add listeners and nothing this test needs.
    'service.extensions=[jaeger_storage, jaeger_query]',
    'service.pipelines.traces.receivers=[otlp]',
    'service.telemetry.metrics.level=none',
    // Otherwise the query service exports its own traces to localhost:4317.
    'extensions.jaeger_query.enable_tracing=false',
    `receivers.otlp.protocols.grpc.endpoint=${LOOPBACK}:${otlpGrpc}`,
    `receivers.otlp.protocols.http.endpoint=${LOOPBACK}:${otlpHttp}`,
    `extensions.jaeger_query.http.endpoint=${LOOPBACK}:${queryHttp}`,
    `extensions.jaeger_query.grpc.endpoint=${LOOPBACK}:${queryGrpc}`,
  ];
  const p = startProcess(
    'jaeger (storage + query)',
    binary,
    sets.map((s) => `--set=${s}`),
    logFile,
    // Anything the overrides missed still binds to loopback only.
    { ...process.env, JAEGER_LISTEN_HOST: LOOPBACK },
  );
  const queryUrl = `http://${LOOPBACK}:${queryHttp}`;
  await answersOrStop(p, `${queryUrl}/api/services`);
  return { process: p, queryUrl, otlpGrpcEndpoint: `${LOOPBACK}:${otlpGrpc}` };
}

/** The repository's collector-config.yaml, run by the jaeger binary. */
export interface Collector {
  readonly process: ManagedProcess;
  /** Base URL of its OTLP/HTTP receiver. */
  readonly otlpHttpUrl: string;
}

/**
 * Runs collector-config.yaml with the jaeger binary, exporting to
 * `jaegerOtlpEndpoint` through the file's `JAEGER_OTLP_ENDPOINT` variable,
 * its receivers moved to free loopback ports. Resolves once OTLP/HTTP answers.
 */
export async function startCollector(
  binary: string,
  jaegerOtlpEndpoint: string,
  logFile: string,
): Promise<Collector> {
  const [otlpGrpc, otlpHttp] = await freePorts(2);
  const sets = [
    `receivers.otlp.protocols.grpc.endpoint=${LOOPBACK}:${otlpGrpc}`,
    `receivers.otlp.protocols.http.endpoint=${LOOPBACK}:${otlpHttp}`,
    // The default self-metrics endpoint (port 8888) would collide with other collectors.
    'service.telemetry.metrics.level=none',
  ];
  const p = startProcess(
    'collector (collector-config.yaml)',
    binary,
    ['--config', COLLECTOR_CONFIG, ...sets.map((s) => `--set=${s}`)],
    logFile,
    { ...process.env, JAEGER_OTLP_ENDPOINT: jaegerOtlpEndpoint, JAEGER_LISTEN_HOST: LOOPBACK },
  );
  const otlpHttpUrl = `http://${LOOPBACK}:${otlpHttp}`;
  // Any HTTP answer (405 for a GET) means the receiver is listening.
  await answersOrStop(p, `${otlpHttpUrl}/v1/traces`);
  return { process: p, otlpHttpUrl };
}

/** Waits until `url` answers; if it never does, stops `p` and fails with its log's tail. */
async function answersOrStop(p: Parameters<typeof stopProcess>[0], url: string): Promise<void> {
  try {
    await waitUntil(url, () => answers(url), { timeoutMs: STARTUP_TIMEOUT_MS, processes: [p] });
  } catch (error) {
    await stopProcess(p);
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\n${tailLog(p)}`, { cause: error });
  }
}

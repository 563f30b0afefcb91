import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The only address the end-to-end test listens on or talks to. */
export const LOOPBACK = '127.0.0.1';

/** A child process whose output goes to a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Set once the process has exited, with its code or signal. */
  exit: string | undefined;
  readonly child: ChildProcess;
}

/**
 * Reserves `count` distinct free TCP ports on the loopback address. All are
 * held open together, so no two are the same, then released for the caller.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LOOPBACK, resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port assigned');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

/** Starts `command` with stdout and stderr appended to `logFile`. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const managed: ManagedProcess = { name, pid: child.pid, logFile, exit: undefined, child };
  live.add(managed);
  child.once('exit', (code, signal) => {
    managed.exit = signal !== null ? `signal ${signal}` : `code ${code}`;
    live.delete(managed);
  });
  killOnExit();
  return managed;
}

/** Started processes that have not exited yet. */
const live = new Set<ManagedProcess>();
let exitHooked = false;

/**
 * A safety net for when the test process ends without its `after` hook (a
 * crash, Ctrl-C, the runner's timeout): kill what it started, by pid.
 */
function killOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = (): void => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Stops a process by its pid: SIGTERM, then SIGKILL if it is still there
 * after `graceMs`. Resolves once it has exited. Safe to call twice.
 */
export async function stopProcess(p: ManagedProcess, graceMs = 5_000): Promise<void> {
  if (p.exit !== undefined) return;
  const exited = new Promise<void>((resolve) => {
    if (p.exit !== undefined) resolve();
    else p.child.once('exit', () => resolve());
  });
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return; // Already gone.
  }
  // Unref'd timers: a pending grace period must not hold the test process open.
  const graceful = await Promise.race([
    exited.then(() => true),
    sleep(graceMs, false, { ref: false }),
  ]);
  if (graceful) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    return;
  }
  await Promise.race([exited, sleep(graceMs, undefined, { ref: false })]);
}

/** The last `lines` lines of a process's log, for a failure report. */
export function tailLog(p: ManagedProcess, lines = 80): string {
  let text: string;
  try {
    text = readFileSync(p.logFile, 'utf8');
  } catch (error) {
    return `(no log: ${String(error)})`;
  }
  const all = text.trimEnd().split('\n');
  const shown = all.slice(-lines).join('\n');
  const cut = all.length > lines ? `(last ${lines} of ${all.length} lines)\n` : '';
  return `----- ${p.name} (pid ${p.pid}, ${p.exit ?? 'running'}), ${p.logFile} -----\n${cut}${shown}`;
}

/**
 * Polls `check` every `intervalMs` until it returns true, for at most
 * `timeoutMs`. Fails early when a process it depends on has exited.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs, intervalMs = 200, processes = [] }: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    for (const p of processes) {
      if (p.exit !== undefined)
        throw new Error(`${p.name} exited (${p.exit}) while waiting for ${what}`);
    }
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Processes that must stay up while waiting. */
  processes?: readonly ManagedProcess[];
}

/** True when `url` answers with a status below 500 within `timeoutMs`. */
export async function answers(url: string, timeoutMs = 2_000): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  return response.status < 500;
}

import { spawn } from 'node:child_process';

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` to its end and resolves with what it printed. A child
 * still running after `timeoutMs` is killed by its pid and the promise rejects.
 */
export function runNode(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const { env = process.env, cwd, timeoutMs = 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...env, NODE_OPTIONS: '' },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`node ${args.join(' ')} ran over ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    timer.unref();
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

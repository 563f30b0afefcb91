import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ReceiverStats {
  requests: number;
  bytes: number;
  spans: number;
}

/** A loopback OTLP/HTTP receiver running in a child process. */
export interface Receiver {
  /** The `/v1/traces` URL to give the exporter. */
  url: string;
  stats(): Promise<ReceiverStats>;
  stop(): Promise<void>;
}

const file = fileURLToPath(new URL('./receiver-process.ts', import.meta.url));

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`receiver exited with code ${code} while waiting for ${type}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export async function startReceiver(): Promise<Receiver> {
  const child = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const { url } = await once<{ url: string }>(child, 'listening');
  return {
    url,
    async stats() {
      const reply = once<ReceiverStats>(child, 'stats');
      child.send({ type: 'stats' });
      return reply;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nextMessage } from './ipc.js';

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

export async function startReceiver(): Promise<Receiver> {
  const child = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const { url } = await nextMessage<{ url: string }>(child, 'listening', 'receiver');
  return {
    url,
    async stats() {
      const reply = nextMessage<ReceiverStats>(child, 'stats', 'receiver');
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

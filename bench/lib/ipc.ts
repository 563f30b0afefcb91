import type { ChildProcess } from 'node:child_process';

/**
 * The next IPC message of `type` from a forked child; rejects if the child
 * exits first, naming `who` and what was awaited.
 */
export function nextMessage<T>(child: ChildProcess, type: string, who: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`${who} exited with code ${code} while waiting for ${type}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

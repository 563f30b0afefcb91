import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Full GCs, a macrotask apart (a WeakRef target lives at least until the job
 * that made or read it ends), for unit tests that check what is still
 * reachable without running under --expose-gc.
 */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await sleep(0);
    gc();
  }
}

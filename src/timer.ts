/**
 * The longest delay Node's timers honour. A longer one (2^31 ms or more, about
 * 24.8 days) does not wait longer: Node warns and fires it after 1 ms.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `ms` as a delay a timer honours. Invariant: no timer of the recorder is
 * armed with 2^31 ms or more, so a huge timeout means "wait a long time",
 * never "time out at once"; a delay that is too long waits the longest a
 * timer can.
 */
export function timerDelay(ms: number): number {
  if (!(ms < MAX_TIMER_MS)) return MAX_TIMER_MS;
  return ms > 0 ? ms : 0;
}

/**
 * Settles with `promise`, or resolves `undefined` after `ms`, whichever
 * comes first; the timer is unref'd and cleared. A `promise` that rejects
 * rejects this. Used where waiting on someone else's promise must be bounded.
 */
export function boundedWait<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timerDelay(ms));
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

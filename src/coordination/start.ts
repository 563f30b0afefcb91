import { COORDINATION_OPTIONS, resolveTable } from '../config.js';
import type { CoordinationOptions } from './options.js';
import { type CoordinationHost, Coordinator } from './coordinator.js';

/**
 * The recorder's coordinator, or undefined when coordination is off: no
 * `redis` in the options and no `FLIGHT_RECORDER_REDIS_URL`. Off, nothing is
 * loaded: node-redis is imported only once a coordinator starts.
 * @throws TypeError when an option in code is invalid (a URL shown redacted).
 */
export function startCoordination(
  given: CoordinationOptions | undefined,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
  host: CoordinationHost,
): Coordinator | undefined {
  // Named as the user wrote them: `coordination.redis`.
  const o = resolveTable(COORDINATION_OPTIONS, given, env, warn, 'coordination.');
  if (o.redis === undefined) return undefined;
  return new Coordinator(o, host);
}

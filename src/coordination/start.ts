import { COORDINATION_OPTIONS, type ResolvedCoordination, resolveTable } from '../config.js';
import type { CoordinationOptions } from './options.js';
import { type CoordinationHost, Coordinator } from './coordinator.js';

/**
 * The coordination options in force, from code and environment: resolved
 * before the recorder installs anything, so an invalid one throws first.
 * @throws TypeError when an option in code is invalid (a URL shown redacted).
 */
export function resolveCoordination(
  given: CoordinationOptions | undefined,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): ResolvedCoordination {
  // Named as the user wrote them: `coordination.redis`.
  return resolveTable(COORDINATION_OPTIONS, given, env, warn, 'coordination.');
}

/**
 * The recorder's coordinator, or undefined when coordination is off: no
 * `redis` in the options and no `FLIGHT_RECORDER_REDIS_URL`. Off, nothing is
 * loaded: node-redis is imported only once a coordinator starts.
 */
export function startCoordination(
  o: ResolvedCoordination,
  host: CoordinationHost,
): Coordinator | undefined {
  if (o.redis === undefined) return undefined;
  return new Coordinator(o, host);
}

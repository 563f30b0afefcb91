import type { RedisClientLike } from './redis-link.js';

/**
 * Options of the recorder's coordination: sharing the keep decision across
 * services over Redis pub/sub, so a trace kept in one service is kept whole
 * in the others that hold spans of it. See docs/coordination.md.
 */
export interface CoordinationOptions {
  /**
   * Where Redis is: a `redis://[user:password@]host[:port][/db]` or
   * `rediss://` (TLS) URL, or a node-redis client made with
   * `createClient()` (the recorder uses it to publish and `duplicate()`s it
   * to subscribe; it never closes it). Needs the optional peer dependency
   * `redis`. Credentials in the URL are never logged.
   * Env: `FLIGHT_RECORDER_REDIS_URL`. The default is none (off).
   */
  redis?: string | RedisClientLike;
  /**
   * The pub/sub channel the services of one system share.
   * Env: `FLIGHT_RECORDER_REDIS_CHANNEL`. The default is `'otel-flight-recorder'`.
   */
  channel?: string;
  /**
   * The most remote triggers this service acts on per second (a token
   * bucket of as many), so a flood of messages cannot make it export more;
   * the rest are refused and counted (`remoteTriggersRefused`).
   * Unit: flushes. Env: `FLIGHT_RECORDER_REMOTE_FLUSHES_PER_SECOND`.
   * The default is 10.
   */
  remoteFlushesPerSecond?: number;
  /**
   * Who a trigger is sent to. `'broadcast'`: every service on the channel.
   * `'breadcrumbs'`: only the services the request went through, named by
   * `FlightRecorderPropagator`'s header (add it to the SDK's propagators in
   * every service); each service then listens on channels of its own
   * (`<channel>:to:<service.name>`, `<channel>:after:<upstream service>`).
   * Env: `FLIGHT_RECORDER_REDIS_TARGETS`. The default is `'broadcast'`.
   */
  targets?: 'broadcast' | 'breadcrumbs';
}

import { diag } from '@opentelemetry/api';
import { warnAboutSetup } from '../env-warnings.js';
import { MAX_TIMER_MS } from '../timer.js';
import { untraced } from '../untraced.js';
import { redactText, redactUrl } from './redact.js';

/**
 * The part of a node-redis client (`redis` 4 to 6, `createClient()`) the
 * recorder uses. Structural, so the package's types never name `redis`,
 * an optional peer dependency.
 */
export interface RedisClientLike {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(
    channels: string[],
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** node-redis 4 and later have it; without it a channel stays subscribed until the next reconnect. */
  unsubscribe?(
    channels: string[],
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  duplicate(): RedisClientLike;
  /**
   * Sent now and then on both connections: Redis's `timeout` never finds the
   * publish one idle, and one left unanswered means the link is gone.
   */
  ping?(): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  destroy(): void;
  unref?(): void;
  readonly isReady: boolean;
  readonly isOpen: boolean;
}

/** What {@link RedisLink} needs. */
export interface RedisLinkOptions {
  /** A `redis://` or `rediss://` URL, or a client the caller made (and keeps). */
  readonly redis: string | RedisClientLike;
  /** The channels to subscribe to from the start; {@link RedisLink.subscribe} adds more. */
  readonly channels: readonly string[];
  /** Called with each message received; must not throw. */
  readonly onMessage: (message: string, channel: string) => void;
  /** Loads node-redis; replaced in tests. */
  readonly load?: () => Promise<{ createClient(options: object): RedisClientLike }>;
  /** {@link CONNECT_TIMEOUT_MS}; replaced in tests. */
  readonly connectTimeoutMs?: number;
  /** {@link KEEPALIVE_MS}; replaced in tests. */
  readonly keepAliveMs?: number;
}

/** Reconnects start after this and double each time, up to {@link MAX_BACKOFF_MS}. */
export const MIN_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 30_000;
/**
 * How long one connection attempt may take, from the TCP connect through the
 * handshake (HELLO, AUTH, SELECT) to the subscribe. node-redis's own
 * `connectTimeout` bounds only the TCP connect: a peer that accepts and
 * never answers would hold the attempt for good.
 */
export const CONNECT_TIMEOUT_MS = 5_000;
/**
 * Both connections send a PING this often. A Redis `timeout` (idle clients
 * closed after that many seconds; subscribed ones are exempt) of more than
 * this never closes the publish one, and a PING unanswered within
 * {@link CONNECT_TIMEOUT_MS} (a Redis frozen, a peer gone without a reset)
 * is a lost link, so a subscriber that would silently receive nothing is
 * reconnected. Our own unref'd timer, not node-redis's `pingInterval`: its
 * timer is not unref'd, so it holds the process up to one interval at exit
 * (node-redis 6.3), and it never gives up on an unanswered PING.
 */
export const KEEPALIVE_MS = 10_000;
/**
 * A publish connection that dropped after being up at least this long is
 * reopened alone, at once, the subscriber left as it is (Redis's `timeout`
 * closes an idle one); one that dropped sooner is a failure like any other.
 */
const PUB_MIN_UPTIME_MS = 500;
/** Publishes waiting for Redis's reply; more are dropped, so a slow Redis holds bounded memory. */
export const MAX_IN_FLIGHT = 256;

const loadRedis = async (): Promise<{ createClient(options: object): RedisClientLike }> =>
  (await import('redis')) as unknown as { createClient(options: object): RedisClientLike };

/**
 * Two connections to Redis, one to publish and one subscribed (a subscribed
 * connection can do nothing else), kept up in the background. Nothing here
 * throws or waits on the caller's path: a publish while Redis is away fails
 * at once. With a URL, the recorder owns the connections: node-redis's own
 * reconnecting is off (its retry timers would keep the process alive), and
 * this reconnects both with exponential backoff and jitter, from
 * {@link MIN_BACKOFF_MS} to {@link MAX_BACKOFF_MS}, on an unref'd timer. An
 * attempt not done within {@link CONNECT_TIMEOUT_MS} is a failed one. Both
 * connections PING every {@link KEEPALIVE_MS}; one unanswered within
 * {@link CONNECT_TIMEOUT_MS} is a lost link. If the publish one is closed
 * while the subscriber stays up (Redis's `timeout` closes idle clients), it
 * alone is reopened, at once. Every timer is unref'd. Credentials never
 * reach a log line: every message is redacted.
 */
export class RedisLink {
  private _pub: RedisClientLike | undefined;
  private _sub: RedisClientLike | undefined;
  private _ready = false;
  private _closed = false;
  private _attempt = 0;
  /** Which connection attempt is current; a stale one's errors are ignored. */
  private _generation = 0;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  /** Bounds the connection attempt under way, if any. */
  private _attemptTimer: ReturnType<typeof setTimeout> | undefined;
  private _keepAlive: ReturnType<typeof setInterval> | undefined;
  /**
   * Connections whose PING is unanswered, each with the timer that gives up
   * on it; no second PING is queued behind one.
   */
  private readonly _pinging = new Map<RedisClientLike, ReturnType<typeof setTimeout>>();
  /** When the publish connection last became ready; undefined while it is not. */
  private _pubSince: number | undefined;
  private _createClient: ((options: object) => RedisClientLike) | undefined;
  private _warned = false;
  private _down = false;
  private _inFlight = 0;
  private readonly _url: string | undefined;
  /** Every channel subscribed to, again after each reconnect. */
  private readonly _channels: Set<string>;
  private readonly _listener = (message: string, channel: string): void => {
    try {
      this._o.onMessage(message, channel);
    } catch {
      // The receiver never throws; nothing from it may reach node-redis.
    }
  };

  constructor(private readonly _o: RedisLinkOptions) {
    this._url = typeof _o.redis === 'string' ? _o.redis : undefined;
    this._channels = new Set(_o.channels);
  }

  /** Subscribes to one more channel, now if connected, else once connected. */
  subscribe(channel: string): void {
    if (this._channels.has(channel)) return;
    this._channels.add(channel);
    const sub = this._sub;
    // Not connected yet: the connect subscribes to every channel in the set.
    if (sub === undefined || !sub.isReady) return;
    untraced(() => sub.subscribe([channel], this._listener)).catch(() => {
      // The connection dropped: the reconnect subscribes to every channel.
    });
  }

  /** Stops listening on `channel`, now if connected (a reconnect leaves it out either way). */
  unsubscribe(channel: string): void {
    if (!this._channels.delete(channel)) return;
    const sub = this._sub;
    if (sub === undefined || !sub.isReady || sub.unsubscribe === undefined) return;
    untraced(() => sub.unsubscribe!([channel], this._listener)).catch(() => {
      // The connection dropped: the reconnect subscribes only to what is left.
    });
  }

  /** Whether both connections are up and subscribed. */
  get ready(): boolean {
    return this._ready && this._pub?.isReady === true && this._sub?.isReady === true;
  }

  /** Starts connecting in the background. */
  start(): void {
    void this._connect();
  }

  /**
   * Publishes `message` on `channel`. Resolves true once Redis took it,
   * false when it could not be sent (Redis away, too many in flight);
   * never rejects.
   */
  publish(channel: string, message: string): Promise<boolean> {
    const pub = this._pub;
    if (!this.ready || pub === undefined || this._inFlight >= MAX_IN_FLIGHT) {
      return Promise.resolve(false);
    }
    this._inFlight++;
    let sent: Promise<unknown>;
    try {
      sent = untraced(() => pub.publish(channel, message));
    } catch {
      this._inFlight--;
      return Promise.resolve(false);
    }
    return sent.then(
      () => {
        this._inFlight--;
        return true;
      },
      () => {
        this._inFlight--;
        return false;
      },
    );
  }

  /** Closes the connections the link made; a client the caller passed is left open. */
  close(): void {
    this._closed = true;
    this._ready = false;
    if (this._timer !== undefined) clearTimeout(this._timer);
    this._timer = undefined;
    this._clearAttemptTimer();
    if (this._keepAlive !== undefined) clearInterval(this._keepAlive);
    this._keepAlive = undefined;
    this._drop();
  }

  /** Connects outside any trace: what the recorder says to Redis is never recorded. */
  private _connect(): Promise<void> {
    return untraced(() => this._connectNow());
  }

  private async _connectNow(): Promise<void> {
    if (this._closed) return;
    const generation = ++this._generation;
    try {
      let pub: RedisClientLike;
      if (this._url !== undefined) {
        let createClient: (options: object) => RedisClientLike;
        try {
          ({ createClient } = await (this._o.load ?? loadRedis)());
        } catch (error) {
          // Not installed: nothing to retry until the app is redeployed. Said
          // as a bad setting is (see env-warnings.ts): the link starts while
          // the recorder is built, so without OTEL_LOG_LEVEL no logger would see it.
          this._closed = true;
          warnAboutSetup(
            `otel-flight-recorder: coordination needs the optional peer dependency \`redis\` (npm install redis); local flushing goes on without it: ${String(error)}`,
          );
          return;
        }
        if (this._closed || generation !== this._generation) return;
        this._createClient = createClient;
        this._armAttemptTimer(generation);
        pub = this._newPub(generation);
      } else {
        pub = this._o.redis as RedisClientLike;
      }
      this._pub = pub;
      const sub = pub.duplicate();
      this._sub = sub;
      sub.on('error', (error) => this._lost(generation, error));
      if (this._url !== undefined) {
        // Neither connection keeps the process alive.
        sub.unref?.();
        await pub.connect();
        this._pubSince = performance.now();
      } else if (!pub.isOpen) {
        await pub.connect();
      }
      await sub.connect();
      sub.unref?.();
      const subscribed = [...this._channels];
      if (subscribed.length > 0) await sub.subscribe(subscribed, this._listener);
      if (this._closed || generation !== this._generation) return;
      // Channels added while connecting.
      const added = [...this._channels].filter((c) => !subscribed.includes(c));
      if (added.length > 0) await sub.subscribe(added, this._listener);
      if (this._closed || generation !== this._generation) return;
      this._clearAttemptTimer();
      this._ready = true;
      this._attempt = 0;
      if (this._url !== undefined) this._startKeepAlive();
      if (this._down) {
        this._down = false;
        // The next outage is warned about again (its retries at debug level).
        this._warned = false;
        diag.info(`otel-flight-recorder: coordination reconnected to ${this._where()}`);
      }
    } catch (error) {
      this._lost(generation, error);
    }
  }

  /** A publish connection of this link's own (URL) making, not yet connected. */
  private _newPub(generation: number): RedisClientLike {
    const pub = this._createClient!({
      url: this._url,
      // Offline, a publish fails at once instead of queueing without bound.
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_IN_FLIGHT,
      socket: { connectTimeout: this._connectTimeout(), reconnectStrategy: false },
    });
    pub.on('error', (error) => this._pubLost(generation, pub, error));
    pub.unref?.();
    return pub;
  }

  /**
   * The publish connection dropped. Redis's `timeout` closes an idle one
   * while the subscriber (exempt) stays up: then only it is reopened, at
   * once and at debug level, so no message on the subscriber is missed.
   * Anything else (the link not up yet, the subscriber down too, a
   * connection that dropped soon after it opened) is a lost link.
   */
  private _pubLost(generation: number, pub: RedisClientLike, error: unknown): void {
    if (this._closed || generation !== this._generation || pub !== this._pub) return;
    const since = this._pubSince;
    if (
      !this._ready ||
      this._sub?.isReady !== true ||
      since === undefined ||
      performance.now() - since < PUB_MIN_UPTIME_MS
    ) {
      this._lost(generation, error);
      return;
    }
    diag.debug(
      redactText(
        `otel-flight-recorder: coordination's publish connection to ${this._where()} closed (an idle one is, by Redis's \`timeout\`); reopening it, the subscription stays: ${describeError(error)}`,
        this._url,
      ),
    );
    void this._reconnectPub(generation, pub);
  }

  /** Replaces the publish connection alone; a failure there is a lost link. */
  private async _reconnectPub(generation: number, old: RedisClientLike): Promise<void> {
    this._pubSince = undefined;
    try {
      old.destroy();
    } catch {
      // Already closed.
    }
    try {
      this._armAttemptTimer(generation);
      const pub = this._newPub(generation);
      this._pub = pub;
      await pub.connect();
      if (this._closed || generation !== this._generation || pub !== this._pub) return;
      this._clearAttemptTimer();
      this._pubSince = performance.now();
    } catch (error) {
      this._lost(generation, error);
    }
  }

  /** From now on, the attempt under way fails after the connect timeout unless it is over. */
  private _armAttemptTimer(generation: number): void {
    this._clearAttemptTimer();
    const ms = this._connectTimeout();
    this._attemptTimer = setTimeout(() => {
      this._attemptTimer = undefined;
      this._lost(generation, new Error(`no answer from Redis within ${ms} ms of connecting`));
    }, ms);
    this._attemptTimer.unref();
  }

  private _clearAttemptTimer(): void {
    if (this._attemptTimer !== undefined) clearTimeout(this._attemptTimer);
    this._attemptTimer = undefined;
  }

  private _connectTimeout(): number {
    return Math.min(Math.max(this._o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, 1), MAX_TIMER_MS);
  }

  /** PINGs the publish connection now and then, for as long as the link is open. */
  private _startKeepAlive(): void {
    if (this._keepAlive !== undefined) return;
    const ms = Math.min(Math.max(this._o.keepAliveMs ?? KEEPALIVE_MS, 1), MAX_TIMER_MS);
    this._keepAlive = setInterval(() => this._ping(), ms);
    this._keepAlive.unref();
  }

  private _ping(): void {
    const generation = this._generation;
    this._pingOne(generation, this._pub);
    this._pingOne(generation, this._sub);
  }

  /**
   * PINGs `client` unless a PING of it is unanswered already. One left
   * unanswered for the connect timeout is a lost link: a frozen Redis or a
   * peer gone without a reset would otherwise keep a subscriber that
   * receives nothing, and `ready` true, for as long as TCP keeps the socket.
   * A PING refused (an ACL without it) or failed is an answer: a connection
   * that died says so on 'error'.
   */
  private _pingOne(generation: number, client: RedisClientLike | undefined): void {
    if (client === undefined || client.ping === undefined || !client.isReady) return;
    if (this._pinging.has(client)) return;
    const ms = this._connectTimeout();
    const timer = setTimeout(() => {
      this._pinging.delete(client);
      if (client !== this._pub && client !== this._sub) return;
      this._lost(generation, new Error(`no answer from Redis to a PING within ${ms} ms`));
    }, ms);
    timer.unref();
    this._pinging.set(client, timer);
    const done = (): void => {
      if (this._pinging.get(client) !== timer) return;
      clearTimeout(timer);
      this._pinging.delete(client);
    };
    try {
      untraced(() => client.ping!()).then(done, done);
    } catch {
      done();
    }
  }

  /** A connection failed or dropped: let both go, warn (once), and try again later. */
  private _lost(generation: number, error: unknown): void {
    if (this._closed || generation !== this._generation || this._timer !== undefined) return;
    // A client the caller passed reconnects (and resubscribes) by its own
    // options: `ready` follows its connections; only its failures are reported.
    if (this._url === undefined) {
      this._warn(error, 'its client reconnects by its own options');
      return;
    }
    this._ready = false;
    this._down = true;
    this._pubSince = undefined;
    this._clearAttemptTimer();
    this._drop();
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this._attempt, 20));
    this._attempt++;
    this._warn(error, `reconnecting with backoff (next in ${Math.round(delay)} ms)`);
    // Jitter: instances that lost Redis together do not all return at once.
    this._timer = setTimeout(
      () => {
        this._timer = undefined;
        void this._connect();
      },
      Math.min(delay * (0.5 + Math.random() / 2), MAX_TIMER_MS),
    );
    this._timer.unref();
  }

  private _warn(error: unknown, then: string): void {
    const message = redactText(
      `otel-flight-recorder: coordination cannot reach Redis at ${this._where()}; local flushing goes on, ${then} (further failures are at debug level): ${describeError(error)}`,
      this._url,
    );
    if (this._warned) {
      diag.debug(message);
      return;
    }
    this._warned = true;
    diag.warn(message);
  }

  private _where(): string {
    return this._url === undefined ? 'the client passed in' : redactUrl(this._url);
  }

  /** Destroys the connections this link made. */
  private _drop(): void {
    for (const timer of this._pinging.values()) clearTimeout(timer);
    this._pinging.clear();
    const sub = this._sub;
    this._sub = undefined;
    try {
      sub?.destroy();
    } catch {
      // Already closed.
    }
    if (this._url !== undefined) {
      const pub = this._pub;
      this._pub = undefined;
      try {
        pub?.destroy();
      } catch {
        // Already closed.
      }
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((e) => String(e)).join('; ');
  }
  return String(error);
}

import { randomBytes } from 'node:crypto';
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { breadcrumbsOf } from './breadcrumbs.js';
import type { FlushMark } from '../marks.js';
import type { ResolvedCoordination } from '../config.js';
import { decodeMessage, encodeMessage } from './message.js';
import { type RedisClientLike, RedisLink } from './redis-link.js';

/** How many trace ids are remembered as acted on, so each is acted on once. */
export const MAX_SEEN_TRACES = 4_096;
/** How many closed traces are remembered with where their records start. */
export const MAX_CLOSED_TRACES = 16_384;
/** How many traces' breadcrumbs (their upstream services) are remembered. */
export const MAX_TRACE_BREADCRUMBS = 16_384;
/** How many upstream services a service listens for (one channel each). */
export const MAX_UPSTREAM_SERVICES = 64;
/**
 * An upstream service not seen in a trace for this long may give its place
 * to a new one once all are taken, in ms: names in a request's breadcrumbs
 * can come from any client, so a burst of made-up names must not keep a
 * real upstream service out for good.
 */
export const UPSTREAM_IDLE_MS = 60_000;

/** What a {@link Coordinator} asks of the recorder that holds it. */
export interface CoordinationHost {
  /**
   * The records this process holds of `traceId`, from `firstSeq` on (and
   * those of its open local roots); empty when a local root of it is open
   * with nothing ended yet; undefined when it holds nothing of it.
   */
  heldRecords(traceId: string, firstSeq: number | undefined): number[] | undefined;
  /**
   * Flushes `records` and whatever else the trace's open roots hold, under
   * `mark` (trace scope), and remembers the mark so the trace's spans that
   * end later follow it.
   */
  flushRemote(traceId: string, mark: FlushMark, records: readonly number[]): void;
  /** A clock in ms. */
  now(): number;
}

/** The counters the recorder's stats report. */
export interface CoordinationCounters {
  published: number;
  publishFailures: number;
  received: number;
  flushes: number;
  ignored: number;
  refused: number;
}

/**
 * One service's side of coordination. Publishes each local trigger the
 * policy let through (so the flush budget bounds what is published), and
 * acts on the others' messages: once per trace, never on its own, and at
 * most `remoteFlushesPerSecond` (a token bucket of as many) so a flood of
 * messages cannot make this service export more. Nothing here throws or
 * blocks the caller: publishing is a fire-and-forget call on the link.
 */
export class Coordinator {
  readonly counters: CoordinationCounters = {
    published: 0,
    publishFailures: 0,
    received: 0,
    flushes: 0,
    ignored: 0,
    refused: 0,
  };
  /** This process, so it knows its own messages. */
  readonly instance = randomBytes(8).toString('hex');
  private readonly _seen = new Set<string>();
  /** Closed traces: where each one's records start in the ring, for a remote flush. */
  private readonly _closed = new Map<string, number>();
  private readonly _link: RedisLink;
  private _tokens: number;
  private _refilled: number;
  private _service: string;
  /** Breadcrumbs: this service's own name once its spans told it, and its channel then. */
  private _self: string | undefined;
  /** Breadcrumbs: the upstream services of recent traces. */
  private readonly _upstream = new Map<string, readonly string[]>();
  /** Breadcrumbs: the upstream services listened for, and when each was last in a trace. */
  private readonly _listening = new Map<string, number>();

  constructor(
    private readonly _o: ResolvedCoordination,
    private readonly _host: CoordinationHost,
    load?: () => Promise<{ createClient(options: object): RedisClientLike }>,
  ) {
    this._tokens = _o.remoteFlushesPerSecond;
    this._refilled = _host.now();
    this._service = process.env.OTEL_SERVICE_NAME || 'unknown_service';
    this._link = new RedisLink({
      redis: _o.redis!,
      // Breadcrumbs: no channel until this service knows its name.
      channels: _o.targets === 'broadcast' ? [_o.channel] : [],
      onMessage: (message) => this.receive(message),
      load,
    });
    this._link.start();
  }

  /** Whether the link to Redis is up (for tests and health checks). */
  get ready(): boolean {
    return this._link.ready;
  }

  /**
   * A local root of `traceId` started, in `parent` (its remote parent's
   * context). With breadcrumbs: learns this service's name and the trace's
   * upstream services, and listens for each upstream service's triggers.
   */
  rootStarted(traceId: string, span: ReadableSpan, parent: Context): void {
    if (this._o.targets !== 'breadcrumbs') return;
    if (this._self === undefined) {
      const name = span.resource?.attributes['service.name'];
      if (typeof name === 'string' && name !== '') {
        this._self = this._service = name;
        this._link.subscribe(`${this._o.channel}:to:${name}`);
      }
    }
    const crumbs = breadcrumbsOf(parent);
    if (crumbs === undefined || crumbs.length === 0) return;
    const upstream = this._upstream;
    upstream.set(traceId, crumbs);
    if (upstream.size > MAX_TRACE_BREADCRUMBS)
      upstream.delete(upstream.keys().next().value as string);
    const listening = this._listening;
    const now = this._host.now();
    for (const name of crumbs) {
      if (name === this._self) continue;
      if (listening.has(name)) {
        listening.set(name, now);
        continue;
      }
      if (listening.size >= MAX_UPSTREAM_SERVICES && !this._forgetIdleUpstream(now)) break;
      listening.set(name, now);
      this._link.subscribe(`${this._o.channel}:after:${name}`);
    }
  }

  /** Stops listening for the upstream service seen least recently, if idle long enough; whether it did. */
  private _forgetIdleUpstream(now: number): boolean {
    let oldest: string | undefined;
    let oldestAt = Number.POSITIVE_INFINITY;
    for (const [name, at] of this._listening) {
      if (at < oldestAt) {
        oldest = name;
        oldestAt = at;
      }
    }
    if (oldest === undefined || now - oldestAt < UPSTREAM_IDLE_MS) return false;
    this._listening.delete(oldest);
    this._link.unsubscribe(`${this._o.channel}:after:${oldest}`);
    return true;
  }

  /** The channels a trigger of `traceId` goes to. */
  private _targets(traceId: string): string[] {
    const ch = this._o.channel;
    if (this._o.targets === 'broadcast') return [ch];
    // Its downstream services listen on its own channel; its upstream ones each on theirs.
    const targets = [`${ch}:after:${this._service}`];
    for (const name of this._upstream.get(traceId) ?? []) {
      if (name !== this._service) targets.push(`${ch}:to:${name}`);
    }
    return targets;
  }

  /** A local trigger flushed `traceId` under `mark`: tell the others. */
  published(traceId: string, mark: FlushMark, span: ReadableSpan | undefined): void {
    const name = span?.resource?.attributes['service.name'];
    if (typeof name === 'string' && name !== '') this._service = name;
    const message = encodeMessage({
      trace: traceId,
      snapshot: mark.snapshotId,
      trigger: mark.trigger,
      service: this._service,
      instance: this.instance,
    });
    // Its own message comes back on the channel: it is already acted on.
    this._remember(traceId);
    const sends = this._targets(traceId).map((channel) => this._link.publish(channel, message));
    void Promise.all(sends).then((sent) => {
      if (sent.some(Boolean)) this.counters.published++;
      else this.counters.publishFailures++;
    });
  }

  /** A local root of `traceId` closed; its records start at `firstSeq`. */
  traceClosed(traceId: string, firstSeq: number): void {
    const closed = this._closed;
    if (!closed.has(traceId)) closed.set(traceId, firstSeq);
    if (closed.size > MAX_CLOSED_TRACES) closed.delete(closed.keys().next().value as string);
  }

  /** A message from the channel. Never throws. */
  receive(raw: string): void {
    const c = this.counters;
    c.received++;
    const m = decodeMessage(raw);
    if (m === undefined || m.instance === this.instance || this._seen.has(m.trace)) {
      c.ignored++;
      return;
    }
    // A service that holds nothing of the trace does nothing (and spends no
    // token). Finding a closed trace's records scans the ring from its first
    // one, so the bucket is read first: a flood over budget costs a map
    // lookup a message, not a scan.
    const firstSeq = this._closed.get(m.trace);
    if (!this._refill()) {
      if (firstSeq !== undefined || this._host.heldRecords(m.trace, undefined) !== undefined) {
        c.refused++;
      }
      return;
    }
    const records = this._host.heldRecords(m.trace, firstSeq);
    if (records === undefined) {
      // Its records are all gone: later messages about it need no scan.
      this._closed.delete(m.trace);
      return;
    }
    this._tokens--;
    this._remember(m.trace);
    this._host.flushRemote(
      m.trace,
      { snapshotId: m.snapshot, trigger: m.trigger, remote: true },
      records,
    );
    c.flushes++;
  }

  /** Closes the link's connections. */
  close(): void {
    this._link.close();
    this._seen.clear();
    this._closed.clear();
    this._upstream.clear();
  }

  private _remember(traceId: string): void {
    const seen = this._seen;
    seen.add(traceId);
    if (seen.size > MAX_SEEN_TRACES) seen.delete(seen.values().next().value as string);
  }

  /** Refills the bucket at `remoteFlushesPerSecond`; whether a token is there to take. */
  private _refill(): boolean {
    const rate = this._o.remoteFlushesPerSecond;
    const now = this._host.now();
    const elapsed = now - this._refilled;
    if (elapsed > 0) {
      this._tokens = Math.min(rate, this._tokens + (elapsed * rate) / 1000);
      this._refilled = now;
    }
    return this._tokens >= 1;
  }
}

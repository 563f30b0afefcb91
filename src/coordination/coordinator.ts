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
/** How many traces' breadcrumbs (their upstream services) are remembered. */
export const MAX_TRACE_BREADCRUMBS = 16_384;
/**
 * What the remembered breadcrumbs may take, estimated in bytes: the names
 * come from request headers, so a client's made-up names (16 of 128
 * characters a request) must not grow the heap beyond this.
 */
export const MAX_BREADCRUMBS_BYTES = 1_048_576;
/** How many distinct lists of upstream services are shared between traces. */
const SHARED_BREADCRUMB_LISTS = 256;
/**
 * How many triggers of traces this service held nothing of are remembered,
 * and for how long (ms), so a local root of that trace that starts later (a
 * request that reached this service after the trigger) follows the mark.
 */
export const MAX_PENDING_TRACES = 1_024;
export const PENDING_TRACE_MS = 60_000;
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
   * Where the records of `traceId` start in the ring when a local root of it
   * closed recently; -1 otherwise. O(1): no scan.
   */
  closedFirst(traceId: string): number;
  /** The closed trace's records are all gone: later lookups of it need no scan. */
  forgetClosed(traceId: string): void;
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
  /** Breadcrumbs: traces whose trigger this service passed on (once each). */
  private readonly _passed = new Set<string>();
  private readonly _link: RedisLink;
  private _tokens: number;
  private _refilled: number;
  private _service: string;
  /** Breadcrumbs: this service's own name once its spans told it, and its channel then. */
  private _self: string | undefined;
  /** Breadcrumbs: the upstream services of recent traces, and what each entry is estimated to take. */
  private readonly _upstream = new Map<string, { names: readonly string[]; bytes: number }>();
  private _upstreamBytes = 0;
  /** Breadcrumbs: recent lists of upstream services, shared by the traces that have the same. */
  private readonly _lists = new Map<string, readonly string[]>();
  /** Triggers of traces held nothing of when they came: a local root that starts later follows. */
  private readonly _pending = new Map<string, { mark: FlushMark; at: number }>();
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
      onMessage: (message, channel) => this.receive(message, channel),
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
    if (this._o.targets === 'breadcrumbs') this._learn(traceId, span, parent);
    if (this._pending.size > 0) this._adopt(traceId);
  }

  /**
   * A trigger came for `traceId` before this service served any of it: its
   * local root that starts now follows the mark, as if the trigger had come
   * now (a token, once per trace).
   */
  private _adopt(traceId: string): void {
    const pending = this._pending.get(traceId);
    if (pending === undefined) return;
    this._pending.delete(traceId);
    if (this._seen.has(traceId) || this._host.now() - pending.at > PENDING_TRACE_MS) return;
    if (!this._refill()) {
      this.counters.refused++;
      return;
    }
    const records = this._host.heldRecords(traceId, undefined);
    if (records === undefined) return;
    this._act(traceId, pending.mark, records);
  }

  private _learn(traceId: string, span: ReadableSpan, parent: Context): void {
    if (this._self === undefined) {
      const name = span.resource?.attributes['service.name'];
      if (typeof name === 'string' && name !== '') {
        this._self = this._service = name;
        this._link.subscribe(`${this._o.channel}:to:${name}`);
      }
    }
    const parsed = breadcrumbsOf(parent);
    if (parsed === undefined || parsed.length === 0) return;
    const crumbs = this._rememberCrumbs(traceId, parsed);
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

  /**
   * Remembers the upstream services of `traceId`, bounded by count and by
   * {@link MAX_BREADCRUMBS_BYTES}; returns the list kept (shared with the
   * traces that have the same one, so the usual few paths cost a map entry).
   */
  private _rememberCrumbs(traceId: string, parsed: readonly string[]): readonly string[] {
    const key = parsed.join('\u0000');
    const lists = this._lists;
    let names = lists.get(key);
    // An entry: the map's slot and the object; a list of its own: its array and strings.
    let bytes = 96;
    if (names === undefined || names.length !== parsed.length) {
      names = parsed;
      for (const name of names) bytes += 2 * name.length + 40;
      lists.set(key, names);
      if (lists.size > SHARED_BREADCRUMB_LISTS) lists.delete(lists.keys().next().value as string);
    }
    const upstream = this._upstream;
    const previous = upstream.get(traceId);
    if (previous !== undefined) {
      upstream.delete(traceId);
      this._upstreamBytes -= previous.bytes;
    }
    upstream.set(traceId, { names, bytes });
    this._upstreamBytes += bytes;
    while (
      upstream.size > MAX_TRACE_BREADCRUMBS ||
      (this._upstreamBytes > MAX_BREADCRUMBS_BYTES && upstream.size > 1)
    ) {
      const [oldest, entry] = upstream.entries().next().value as [string, { bytes: number }];
      upstream.delete(oldest);
      this._upstreamBytes -= entry.bytes;
    }
    return names;
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
    for (const name of this._upstream.get(traceId)?.names ?? []) {
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

  /**
   * A message from `channel` (with breadcrumbs, one of this service's:
   * `:to:<self>` from a service downstream, `:after:<name>` from one
   * upstream). Never throws.
   */
  receive(raw: string, channel?: string): void {
    const c = this.counters;
    c.received++;
    const m = decodeMessage(raw);
    if (m === undefined || m.instance === this.instance || this._seen.has(m.trace)) {
      c.ignored++;
      return;
    }
    // A service that holds nothing of the trace does nothing (and spends no
    // token). Finding a closed trace's records scans the ring from its first
    // one, so the bucket is read first: a flood over budget costs a table
    // lookup a message, not a scan.
    const firstSeq = this._host.closedFirst(m.trace);
    const closed = firstSeq >= 0;
    const mark: FlushMark = { snapshotId: m.snapshot, trigger: m.trigger, remote: true };
    // With breadcrumbs, a trigger from downstream goes on to the other
    // branches through the instance that served the trace, whether or not
    // its own budget lets it flush (that bounds its exports, not the others').
    const pass =
      this._o.targets === 'breadcrumbs' && channel !== undefined && channel === this._toSelf();
    if (!this._refill()) {
      if (closed || this._host.heldRecords(m.trace, -1) !== undefined) {
        c.refused++;
        if (pass) this._pass(m.trace, raw);
      } else this._awaiting(m.trace, mark);
      return;
    }
    const records = this._host.heldRecords(m.trace, firstSeq);
    if (records === undefined) {
      // Its records are all gone: later messages about it need no scan.
      if (closed) this._host.forgetClosed(m.trace);
      if (closed && pass) this._pass(m.trace, raw);
      // Or none came yet: a request of it may reach this service later.
      if (!closed) this._awaiting(m.trace, mark);
      return;
    }
    this._act(m.trace, mark, records);
    if (pass) this._pass(m.trace, raw);
  }

  /** The channel this service's downstream services send to it on (breadcrumbs). */
  private _toSelf(): string | undefined {
    return this._self === undefined ? undefined : `${this._o.channel}:to:${this._self}`;
  }

  /**
   * Passes a trigger from downstream on to this service's other downstream
   * services, once (each service acts once a trace), as Hindsight forwards
   * along its breadcrumbs: the origin reached its own downstream services
   * and every service upstream of it, but not the other branches of the
   * request (a trigger in C of A→B→{C, D} reaches D through B, and A's
   * other branches through A). What came from upstream needs no passing on:
   * the origin's own channel reached every service downstream of it.
   */
  private _pass(traceId: string, raw: string): void {
    const passed = this._passed;
    if (this._self === undefined || passed.has(traceId)) return;
    passed.add(traceId);
    if (passed.size > MAX_SEEN_TRACES) passed.delete(passed.values().next().value as string);
    void this._link.publish(`${this._o.channel}:after:${this._self}`, raw);
  }

  /** Remembers a trigger of a trace this service holds nothing of, for its local root to come. */
  private _awaiting(traceId: string, mark: FlushMark): void {
    const pending = this._pending;
    if (pending.has(traceId)) return;
    pending.set(traceId, { mark, at: this._host.now() });
    if (pending.size > MAX_PENDING_TRACES) pending.delete(pending.keys().next().value as string);
  }

  /** Flushes what this service holds of `traceId` under the remote `mark` (a token is there). */
  private _act(traceId: string, mark: FlushMark, records: readonly number[]): void {
    this._tokens--;
    this._remember(traceId);
    this._host.flushRemote(traceId, mark, records);
    this.counters.flushes++;
  }

  /** Closes the link's connections. */
  close(): void {
    this._link.close();
    this._seen.clear();
    this._passed.clear();
    this._upstream.clear();
    this._upstreamBytes = 0;
    this._lists.clear();
    this._pending.clear();
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

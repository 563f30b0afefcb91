import { randomBytes } from 'node:crypto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { FlushMark } from '../marks.js';
import type { ResolvedCoordination } from '../config.js';
import { decodeMessage, encodeMessage } from './message.js';
import { type RedisClientLike, RedisLink } from './redis-link.js';

/** How many trace ids are remembered as acted on, so each is acted on once. */
export const MAX_SEEN_TRACES = 4_096;
/** How many closed traces are remembered with where their records start. */
export const MAX_CLOSED_TRACES = 16_384;

/** What a {@link Coordinator} asks of the recorder that holds it. */
export interface CoordinationHost {
  /**
   * The records this process holds of `traceId`, from `firstSeq` on (or
   * those of its open local roots); empty when it holds nothing of it.
   */
  heldRecords(traceId: string, firstSeq: number | undefined): number[];
  /**
   * Flushes `records` and whatever else the trace's open roots hold, under
   * `mark` (trace scope, remembered for late spans).
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
      channels: [_o.channel],
      onMessage: (message) => this.receive(message),
      load,
    });
    this._link.start();
  }

  /** Whether the link to Redis is up (for tests and health checks). */
  get ready(): boolean {
    return this._link.ready;
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
    void this._link.publish(this._o.channel, message).then((sent) => {
      if (sent) this.counters.published++;
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
    // A service that holds nothing of the trace does nothing (and spends no token).
    const records = this._host.heldRecords(m.trace, this._closed.get(m.trace));
    if (records.length === 0) return;
    if (!this._take()) {
      c.refused++;
      return;
    }
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
  }

  private _remember(traceId: string): void {
    const seen = this._seen;
    seen.add(traceId);
    if (seen.size > MAX_SEEN_TRACES) seen.delete(seen.values().next().value as string);
  }

  /** Takes a token from the bucket, refilled at `remoteFlushesPerSecond`. */
  private _take(): boolean {
    const rate = this._o.remoteFlushesPerSecond;
    const now = this._host.now();
    const elapsed = now - this._refilled;
    if (elapsed > 0) {
      this._tokens = Math.min(rate, this._tokens + (elapsed * rate) / 1000);
      this._refilled = now;
    }
    if (this._tokens < 1) return false;
    this._tokens--;
    return true;
  }
}

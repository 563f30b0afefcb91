/**
 * The message one service publishes when it keeps a trace, so the others
 * that hold spans of it keep them too. Small (about 150 bytes as JSON), and
 * versioned: a receiver acts only on the versions it knows.
 */
export interface RemoteTrigger {
  /** The message format; this is version 1. */
  readonly v: 1;
  /** The trace kept, 32 lowercase hex digits. */
  readonly trace: string;
  /** The origin's `flight_recorder.snapshot.id`, which receivers stamp too. */
  readonly snapshot: string;
  /** What triggered it at the origin (`latency`, `error`, a custom name). */
  readonly trigger: string;
  /** The origin's `service.name`. */
  readonly service: string;
  /** The origin process, so it ignores its own messages. */
  readonly instance: string;
}

export const MESSAGE_VERSION = 1;
/** A longer message is not one of ours: it is dropped before it is parsed. */
export const MAX_MESSAGE_BYTES = 1024;
const MAX_FIELD = 256;
const TRACE_ID = /^[0-9a-f]{32}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

export function encodeMessage(m: Omit<RemoteTrigger, 'v'>): string {
  return JSON.stringify({
    v: MESSAGE_VERSION,
    trace: m.trace,
    snapshot: m.snapshot,
    trigger: m.trigger,
    service: m.service,
    instance: m.instance,
  });
}

const text = (v: unknown): v is string =>
  typeof v === 'string' && v !== '' && v.length <= MAX_FIELD;

/**
 * The message in `raw`, or undefined when it is not a version-1 remote
 * trigger (malformed, foreign, too long or of another version). Never throws.
 */
export function decodeMessage(raw: string): RemoteTrigger | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_MESSAGE_BYTES || raw[0] !== '{') return undefined;
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (m === null || typeof m !== 'object') return undefined;
  const o = m as Record<string, unknown>;
  if (o.v !== MESSAGE_VERSION) return undefined;
  if (typeof o.trace !== 'string' || !TRACE_ID.test(o.trace) || o.trace === INVALID_TRACE_ID) {
    return undefined;
  }
  if (!text(o.snapshot) || !text(o.trigger) || !text(o.service) || !text(o.instance)) {
    return undefined;
  }
  return {
    v: MESSAGE_VERSION,
    trace: o.trace,
    snapshot: o.snapshot,
    trigger: o.trigger,
    service: o.service,
    instance: o.instance,
  };
}

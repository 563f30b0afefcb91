import { LIVE, type RecordRun } from './record-run.js';
import type { SpanRing } from './span-ring.js';

/**
 * The live records of trace `traceId` (32 hex digits) from sequence number
 * `from` on, oldest first. Reads the trace id bytes every record starts with
 * (field 1, `0a 10` and 16 bytes) and compares them without building a
 * string or a view: O(records since `from`). For cold paths: a remote
 * trigger, a trace flush after a root of the trace closed.
 */
export function traceRecords(ring: SpanRing, traceId: string, from: number): number[] {
  const want = Buffer.from(traceId, 'hex');
  const seqs: number[] = [];
  if (want.length !== 16) return seqs;
  const start = Math.max(from, ring.headSeq);
  for (let seq = start; seq < ring.tailSeq; seq++) {
    if (ring.isLive(seq) && ring.isOfTrace(seq, want)) seqs.push(seq);
  }
  return seqs;
}

const HEX_DIGITS = '0123456789abcdef';

function hexAt(buf: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = at; i < at + n; i++) s += HEX_DIGITS[buf[i]! >> 4]! + HEX_DIGITS[buf[i]! & 15]!;
  return s;
}

/**
 * Spans wanted by their ids: keys of 48 hex digits, the trace id then the
 * span id. {@link forEachIn} finds their records in a run without decoding
 * the others: a record starts with its trace id and span id (`0a 10`, 16
 * bytes, `12 08`, 8 bytes), and a number made of the span id's first four
 * bytes is compared before any string is built, so a window of tens of
 * thousands of records costs a read and a Set lookup each.
 */
export class WantedSpans<T> {
  private readonly _prefixes = new Set<number>();

  constructor(private readonly _wanted: ReadonlyMap<string, T>) {
    for (const key of _wanted.keys()) {
      if (key.length === 48) this._prefixes.add(Number.parseInt(key.slice(32, 40), 16));
    }
  }

  get size(): number {
    return this._prefixes.size;
  }

  /** Calls `fn` for each live record of `run` that is a wanted span, with what it is wanted for and its key. */
  forEachIn(run: RecordRun, fn: (slot: number, value: T, key: string) => void): void {
    if (this._prefixes.size === 0) return;
    const buf = run.buf;
    for (let k = 0; k < run.entries; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0 || run.len[slot]! < 28) continue;
      const o = run.off[slot]!;
      if (buf[o] !== 0x0a || buf[o + 1] !== 16 || buf[o + 18] !== 0x12 || buf[o + 19] !== 8) {
        continue;
      }
      const prefix =
        ((buf[o + 20]! << 24) | (buf[o + 21]! << 16) | (buf[o + 22]! << 8) | buf[o + 23]!) >>> 0;
      if (!this._prefixes.has(prefix)) continue;
      const key = hexAt(buf, o + 2, 16) + hexAt(buf, o + 20, 8);
      const value = this._wanted.get(key);
      if (value !== undefined) fn(slot, value, key);
    }
  }
}

import type { SpanRing } from './span-ring.js';

/**
 * The live records of trace `traceId` (32 hex digits) from sequence number
 * `from` on, oldest first. Reads the trace id bytes every record starts with
 * (field 1, `0a 10` and 16 bytes) and compares them without building a
 * string: O(records since `from`). For cold paths: a remote trigger.
 */
export function traceRecords(ring: SpanRing, traceId: string, from: number): number[] {
  const want = Buffer.from(traceId, 'hex');
  const seqs: number[] = [];
  if (want.length !== 16) return seqs;
  const start = Math.max(from, ring.headSeq);
  for (let seq = start; seq < ring.tailSeq; seq++) {
    if (!ring.isLive(seq)) continue;
    const record = ring.record(seq);
    if (record.length < 18 || record[0] !== 0x0a || record[1] !== 0x10) continue;
    let same = true;
    for (let i = 0; i < 16; i++) {
      if (record[2 + i] !== want[i]) {
        same = false;
        break;
      }
    }
    if (same) seqs.push(seq);
  }
  return seqs;
}

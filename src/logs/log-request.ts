import { writeMarkAttributes } from '../flush/request.js';
import type { FlushMark } from '../marks.js';
import { RequestLayout } from '../flush/request-layout.js';
import { ProtobufWriter } from '../record/protobuf-writer.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';

/**
 * Log records taken out of the ring by one flush (or passed through), copied
 * into one buffer: what the log export queue holds. Never written again once
 * made, so the transport can keep request bytes assembled from it.
 */
export interface LogBatch {
  readonly buf: Uint8Array;
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  readonly pair: Uint16Array;
  readonly count: number;
  /** The flush's marks as LogRecord attribute fields, appended after each record; none for pass-through. */
  readonly marks: Uint8Array | undefined;
}

/**
 * The two mark attributes as LogRecord fields (`32 <len> KeyValue` twice),
 * made once per flush and appended after each record's bytes: protobuf
 * merges repeated fields wherever they appear, so a decoder sees them as the
 * record's last two attributes.
 */
export function encodeLogMarks(mark: FlushMark): Uint8Array {
  const w = new ProtobufWriter(
    new Uint8Array(128 + 3 * (mark.snapshotId.length + mark.trigger.length)),
  );
  writeMarkAttributes(w, 0x32, mark);
  return w.buf.slice(0, w.pos);
}

/**
 * Assembles an OTLP `ExportLogsServiceRequest` from records `[from, to)` of
 * `batch`: grouped by resource and then scope in first-seen order (as
 * `ProtobufLogsSerializer` groups records), the `ResourceLogs` and
 * `ScopeLogs` headers written in front, each record followed by the batch's
 * marks (the layout is spans', {@link RequestLayout}). The result is a new
 * array.
 */
export function assembleLogsRequest(
  batch: LogBatch,
  from: number,
  to: number,
  table: ResourceScopeTable,
): Uint8Array {
  const marks = batch.marks;
  const m = marks?.length ?? 0;
  const layout = new RequestLayout(table);
  for (let k = from; k < to; k++) layout.add(batch.pair[k]!, k, batch.len[k]! + m);
  const out = new Uint8Array(layout.measure());
  layout.write(out, (out, p, k) => {
    const o = batch.off[k]!;
    const n = batch.len[k]!;
    out.set(batch.buf.subarray(o, o + n), p);
    p += n;
    if (marks !== undefined) {
      out.set(marks, p);
      p += m;
    }
    return p;
  });
  return out;
}

/** A batch builder: records copied in one at a time, trimmed once built. */
export class LogBatchBuilder {
  private _buf: Uint8Array;
  private _off: Uint32Array;
  private _len: Uint32Array;
  private _pair: Uint16Array;
  private _pos = 0;
  private _n = 0;

  constructor(bytes = 4096, records = 16) {
    this._buf = new Uint8Array(bytes);
    this._off = new Uint32Array(records);
    this._len = new Uint32Array(records);
    this._pair = new Uint16Array(records);
  }

  get count(): number {
    return this._n;
  }

  get bytes(): number {
    return this._pos;
  }

  add(src: Uint8Array, from: number, to: number, pair: number): void {
    const n = to - from;
    if (this._pos + n > this._buf.length) {
      let size = this._buf.length * 2;
      while (size < this._pos + n) size *= 2;
      const buf = new Uint8Array(size);
      buf.set(this._buf.subarray(0, this._pos));
      this._buf = buf;
    }
    if (this._n === this._off.length) {
      const k = this._n * 2;
      const off = new Uint32Array(k);
      off.set(this._off);
      this._off = off;
      const len = new Uint32Array(k);
      len.set(this._len);
      this._len = len;
      const pairs = new Uint16Array(k);
      pairs.set(this._pair);
      this._pair = pairs;
    }
    this._buf.set(src.subarray(from, to), this._pos);
    this._off[this._n] = this._pos;
    this._len[this._n] = n;
    this._pair[this._n] = pair;
    this._pos += n;
    this._n++;
  }

  build(marks: Uint8Array | undefined): LogBatch {
    const n = this._n;
    return {
      buf: this._buf.slice(0, this._pos),
      off: this._off.slice(0, n),
      len: this._len.slice(0, n),
      pair: this._pair.slice(0, n),
      count: n,
      marks,
    };
  }
}

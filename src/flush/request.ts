import {
  type FlushMark,
  PERCENTILE_ATTRIBUTE,
  REMOTE_TRIGGER_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../marks.js';
import { expandRecord, releaseExpandViews } from '../record/expand.js';
import { ProtobufWriter } from '../record/protobuf-writer.js';
import { writeKeyValue } from '../record/span-encoder.js';
import { LIVE, type RecordRun } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import { RequestLayout } from './request-layout.js';

/**
 * Writes the two marks, `flight_recorder.snapshot.id` and
 * `flight_recorder.trigger`, as string `KeyValue`s in the attributes field
 * whose tag byte is `tag`: `0x4a` for `Span.attributes` (field 9),
 * `0x32` for `LogRecord.attributes` (field 6); and `flight_recorder.remote_trigger`
 * (true) when another service asked for the flush.
 */
export function writeMarkAttributes(w: ProtobufWriter, tag: number, mark: FlushMark): void {
  writeKeyValue(w, tag, SNAPSHOT_ID_ATTRIBUTE, mark.snapshotId);
  writeKeyValue(w, tag, TRIGGER_ATTRIBUTE, mark.trigger);
  if (mark.remote === true) writeKeyValue(w, tag, REMOTE_TRIGGER_ATTRIBUTE, true);
}

/**
 * The two mark attributes as Span fields (`4a <len> KeyValue` twice), made
 * once per flush and appended after each record's bytes: protobuf merges
 * repeated fields wherever they appear, so a decoder sees them as the span's
 * last two attributes. A mark with evidence (the triggering span's own run)
 * adds the threshold and percentile attributes.
 */
export function encodeMarks(mark: FlushMark): Uint8Array {
  const w = new ProtobufWriter(
    new Uint8Array(256 + 3 * (mark.snapshotId.length + mark.trigger.length)),
  );
  writeMarkAttributes(w, 0x4a, mark);
  const evidence = mark.evidence;
  if (evidence !== undefined) {
    writeKeyValue(w, 0x4a, THRESHOLD_ATTRIBUTE, evidence.thresholdMs);
    if (evidence.percentile !== undefined) {
      writeKeyValue(w, 0x4a, PERCENTILE_ATTRIBUTE, evidence.percentile);
    }
  }
  return w.buf.slice(0, w.pos);
}

const markBytes = new WeakMap<RecordRun, Uint8Array>();

/** The marks of `run`'s flush as Span fields ({@link encodeMarks}), made once per run. */
export function marksOf(run: RecordRun): Uint8Array {
  let bytes = markBytes.get(run);
  if (bytes === undefined) {
    bytes = encodeMarks(run.mark);
    markBytes.set(run, bytes);
  }
  return bytes;
}

/** Entries `[from, to)` of a run, one part of a request. */
export interface RequestPart {
  readonly run: RecordRun;
  readonly from: number;
  readonly to: number;
}

/**
 * Assembles an OTLP `ExportTraceServiceRequest` from entries `[from, to)` of
 * `run`; see {@link assembleParts}. Without `marks`, the records go unchanged.
 */
export function assembleRequest(
  run: RecordRun,
  from: number,
  to: number,
  table: ResourceScopeTable,
  marks: Uint8Array | undefined,
): Uint8Array {
  return assembleParts([{ run, from, to }], table, () => marks);
}

/**
 * Assembles an OTLP `ExportTraceServiceRequest` from the records of `parts`:
 * grouped by resource and then scope (in first-seen order, as
 * `ProtobufTraceSerializer` groups spans), the `ResourceSpans` and
 * `ScopeSpans` headers written in front, each record expanded (its interned
 * strings written out) and followed by its run's marks (`marksOf`) with the
 * sampled bit set in its `flags`, then by its `extra` fields (span events).
 * The result is a new array (or a view of `spare`, an earlier request's
 * memory the caller knows is no longer read), never a view of ring memory.
 */
export function assembleParts(
  parts: readonly RequestPart[],
  table: ResourceScopeTable,
  marksOf: (run: RecordRun) => Uint8Array | undefined,
  spare?: Uint8Array,
): Uint8Array {
  const layout = new RequestLayout(table);
  // Item `i` of the layout is record `slots[i]` of `runs[i]`.
  const runs: RecordRun[] = [];
  const slots: number[] = [];
  for (const { run, from, to } of parts) {
    const m = marksOf(run)?.length ?? 0;
    for (let k = from; k < to; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      layout.add(
        run.pair[slot]!,
        runs.length,
        run.xlen[slot]! + m + (run.extra?.get(slot)?.length ?? 0),
      );
      runs.push(run);
      slots.push(slot);
    }
  }
  const total = layout.measure();
  // Written into `spare` when it has room (a view of its start), else into a new array.
  const out =
    spare !== undefined && spare.length >= total
      ? spare.subarray(0, total)
      : new Uint8Array(new ArrayBuffer(total + (total >> 3)), 0, total);
  let lastRun: RecordRun | undefined;
  let marks: Uint8Array | undefined;
  try {
    layout.write(out, (out, p, i) => {
      const run = runs[i]!;
      const slot = slots[i]!;
      if (run !== lastRun) {
        lastRun = run;
        marks = marksOf(run);
      }
      const o = run.off[slot]!;
      p = expandRecord(run.buf, o, o + run.len[slot]!, run.dict(slot), out, p);
      if (marks !== undefined) {
        // flags is the record's last field (fixed32): set the sampled bit.
        out[p - 4] = out[p - 4]! | 1;
        out.set(marks, p);
        p += marks.length;
      }
      const extra = run.extra?.get(slot);
      if (extra !== undefined) {
        out.set(extra, p);
        p += extra.length;
      }
      return p;
    });
  } finally {
    // Whatever happens, the copies' cached views let go of the ring, the slab and the request.
    releaseExpandViews();
  }
  return out;
}

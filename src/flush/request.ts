import {
  type FlushMark,
  PERCENTILE_ATTRIBUTE,
  REMOTE_TRIGGER_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  THRESHOLD_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../marks.js';
import { expandRecord, releaseExpandViews } from '../record/expand.js';
import { ProtobufWriter, putVarint, varintSize } from '../record/protobuf-writer.js';
import { LIVE, type RecordRun } from '../record/record-run.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';

/**
 * Writes the two marks, `flight_recorder.snapshot.id` and
 * `flight_recorder.trigger`, as string `KeyValue`s in the attributes field
 * whose tag byte is `tag`: `0x4a` for `Span.attributes` (field 9),
 * `0x32` for `LogRecord.attributes` (field 6).
 */
export function writeMarkAttributes(w: ProtobufWriter, tag: number, mark: FlushMark): void {
  for (const [key, value] of [
    [SNAPSHOT_ID_ATTRIBUTE, mark.snapshotId],
    [TRIGGER_ATTRIBUTE, mark.trigger],
  ] as const) {
    w.byte(tag);
    const kv = w.start();
    w.byte(0x0a);
    w.string(key);
    w.byte(0x12);
    const v = w.start();
    w.byte(0x0a);
    w.string(value);
    w.finish(v);
    w.finish(kv);
  }
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
    const doubles: [string, number][] = [[THRESHOLD_ATTRIBUTE, evidence.thresholdMs]];
    if (evidence.percentile !== undefined)
      doubles.push([PERCENTILE_ATTRIBUTE, evidence.percentile]);
    for (const [key, value] of doubles) {
      w.byte(0x4a);
      const kv = w.start();
      w.byte(0x0a);
      w.string(key);
      w.byte(0x12);
      const v = w.start();
      // As the SDK's serializer writes a number: an integer as int_value
      // (field 3), anything else as double_value (field 4).
      if (Number.isSafeInteger(value)) {
        w.byte(0x18);
        w.varint64(value);
      } else {
        w.byte(0x21);
        w.double(value);
      }
      w.finish(v);
      w.finish(kv);
    }
  }
  if (mark.remote === true) {
    // AnyValue.bool_value is field 2, a varint.
    w.byte(0x4a);
    const kv = w.start();
    w.byte(0x0a);
    w.string(REMOTE_TRIGGER_ATTRIBUTE);
    w.byte(0x12);
    const v = w.start();
    w.byte(0x10);
    w.byte(0x01);
    w.finish(v);
    w.finish(kv);
  }
  return w.buf.slice(0, w.pos);
}

/** Entries `[from, to)` of a run, one part of a request. */
export interface RequestPart {
  readonly run: RecordRun;
  readonly from: number;
  readonly to: number;
}

/** A `ScopeSpans` group of one request: its records, as (run, slot) pairs. */
interface Group {
  readonly pair: number;
  readonly runs: RecordRun[];
  readonly slots: number[];
  size: number;
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
  // Pairs in first-seen order, grouped by resource identity.
  const groups = new Map<number, Group>();
  const byResource = new Map<unknown, Group[]>();
  for (const { run, from, to } of parts) {
    const m = marksOf(run)?.length ?? 0;
    for (let k = from; k < to; k++) {
      const slot = run.slot(k);
      if ((run.state[slot]! & LIVE) === 0) continue;
      const pair = run.pair[slot]!;
      let group = groups.get(pair);
      if (group === undefined) {
        group = { pair, runs: [], slots: [], size: 0 };
        groups.set(pair, group);
        const resource = table.resource(pair);
        const list = byResource.get(resource);
        if (list === undefined) byResource.set(resource, [group]);
        else list.push(group);
      }
      group.runs.push(run);
      group.slots.push(slot);
      const n = run.xlen[slot]! + m + (run.extra?.get(slot)?.length ?? 0);
      group.size += 1 + varintSize(n) + n;
    }
  }
  // Sizes, innermost first.
  let total = 0;
  const resourceSizes: number[] = [];
  for (const list of byResource.values()) {
    const encoded = table.encodedResource(list[0]!.pair);
    let size = encoded.field.length + encoded.schema.length;
    for (const group of list) {
      const scope = table.encodedScope(group.pair);
      group.size += scope.field.length + scope.schema.length;
      size += 1 + varintSize(group.size) + group.size;
    }
    resourceSizes.push(size);
    total += 1 + varintSize(size) + size;
  }
  // Written into `spare` when it has room (a view of its start), else into a new array.
  try {
    const out =
      spare !== undefined && spare.length >= total
        ? spare.subarray(0, total)
        : new Uint8Array(new ArrayBuffer(total + (total >> 3)), 0, total);
    let p = 0;
    let r = 0;
    for (const list of byResource.values()) {
      const encoded = table.encodedResource(list[0]!.pair);
      out[p++] = 0x0a;
      p = putVarint(out, p, resourceSizes[r++]!);
      out.set(encoded.field, p);
      p += encoded.field.length;
      for (const group of list) {
        const scope = table.encodedScope(group.pair);
        out[p++] = 0x12;
        p = putVarint(out, p, group.size);
        out.set(scope.field, p);
        p += scope.field.length;
        for (let g = 0; g < group.slots.length; g++) {
          const run = group.runs[g]!;
          const slot = group.slots[g]!;
          const marks = marksOf(run);
          const extra = run.extra?.get(slot);
          const o = run.off[slot]!;
          out[p++] = 0x12;
          p = putVarint(out, p, run.xlen[slot]! + (marks?.length ?? 0) + (extra?.length ?? 0));
          p = expandRecord(run.buf, o, o + run.len[slot]!, run.dict(slot), out, p);
          if (marks !== undefined) {
            // flags is the record's last field (fixed32): set the sampled bit.
            out[p - 4] = out[p - 4]! | 1;
            out.set(marks, p);
            p += marks.length;
          }
          if (extra !== undefined) {
            out.set(extra, p);
            p += extra.length;
          }
        }
        out.set(scope.schema, p);
        p += scope.schema.length;
      }
      out.set(encoded.schema, p);
      p += encoded.schema.length;
    }
    return out;
  } finally {
    // Whatever happens, the copies' cached views let go of the ring, the slab and the request.
    releaseExpandViews();
  }
}

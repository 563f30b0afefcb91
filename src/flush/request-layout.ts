import { putVarint, varintSize } from '../record/protobuf-writer.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';

/** One scope's items in a request: the caller's item numbers and body lengths. */
interface Group {
  readonly pair: number;
  readonly items: number[];
  readonly lengths: number[];
  size: number;
}

/**
 * The layout of one OTLP export request, for spans and logs alike: their
 * headers have the same wire layout (`Resource*` 1 resource, 2 scope groups,
 * 3 schema; `Scope*` 1 scope, 2 records, 3 schema), so the resource and
 * scope table's encodings serve both. Items (records) are grouped by
 * resource and then scope in first-seen order, as the SDK's serializers
 * group them; each is a `0x12 <length> <body>` field of its scope group.
 *
 * Use: {@link add} every item, {@link measure} once, then {@link write}.
 */
export class RequestLayout {
  private readonly _groups = new Map<number, Group>();
  private readonly _byResource = new Map<unknown, Group[]>();
  private _last: Group | undefined;
  private readonly _resourceSizes: number[] = [];

  constructor(private readonly _table: ResourceScopeTable) {}

  /** Adds item `item` (the caller's number for it) of resource and scope `pair`, whose body is `length` bytes. */
  add(pair: number, item: number, length: number): void {
    // Records of one request mostly share their pair: no lookup for a run of them.
    let group = this._last;
    if (group === undefined || group.pair !== pair) {
      group = this._groups.get(pair);
      if (group === undefined) {
        group = { pair, items: [], lengths: [], size: 0 };
        this._groups.set(pair, group);
        const resource = this._table.resource(pair);
        const list = this._byResource.get(resource);
        if (list === undefined) this._byResource.set(resource, [group]);
        else list.push(group);
      }
      this._last = group;
    }
    group.items.push(item);
    group.lengths.push(length);
    group.size += recordWireBytes(length);
  }

  /** The request's size in bytes, headers included; once, after the last {@link add}. */
  measure(): number {
    const table = this._table;
    let total = 0;
    for (const list of this._byResource.values()) {
      const encoded = table.encodedResource(list[0]!.pair);
      let size = encoded.field.length + encoded.schema.length;
      for (const group of list) {
        const scope = table.encodedScope(group.pair);
        group.size += scope.field.length + scope.schema.length;
        size += 1 + varintSize(group.size) + group.size;
      }
      this._resourceSizes.push(size);
      total += 1 + varintSize(size) + size;
    }
    return total;
  }

  /**
   * Writes the request into `out` (of {@link measure}'s size): the headers,
   * and for each item its tag and length, then the body `writeBody` writes
   * at `p` (it returns the position after it).
   */
  write(out: Uint8Array, writeBody: (out: Uint8Array, p: number, item: number) => number): void {
    const table = this._table;
    let p = 0;
    let r = 0;
    for (const list of this._byResource.values()) {
      const encoded = table.encodedResource(list[0]!.pair);
      out[p++] = 0x0a;
      p = putVarint(out, p, this._resourceSizes[r++]!);
      out.set(encoded.field, p);
      p += encoded.field.length;
      for (const group of list) {
        const scope = table.encodedScope(group.pair);
        out[p++] = 0x12;
        p = putVarint(out, p, group.size);
        out.set(scope.field, p);
        p += scope.field.length;
        const { items, lengths } = group;
        for (let g = 0; g < items.length; g++) {
          out[p++] = 0x12;
          p = putVarint(out, p, lengths[g]!);
          p = writeBody(out, p, items[g]!);
        }
        out.set(scope.schema, p);
        p += scope.schema.length;
      }
      out.set(encoded.schema, p);
      p += encoded.schema.length;
    }
  }
}

/** A record's bytes in a request: its `0x12 <length>` framing and its `length` bytes. */
export function recordWireBytes(length: number): number {
  return 1 + varintSize(length) + length;
}

/** What a resource still detecting attributes is counted as in a request's size. */
const PENDING_RESOURCE_BYTES = 1024;

/** A length field's tag and varint, at most: the sizes of groups are not known until they close. */
const HEADER_FRAMING = 6;

/**
 * The size of a request as records are added, headers included, without
 * laying it out: each record's `0x12 <length>` framing, and the first time a
 * resource or a scope appears, its header (at most {@link HEADER_FRAMING}
 * bytes more than its encoding). An upper bound of {@link RequestLayout}'s
 * measure, within a few bytes a group, for batching by bytes.
 */
export class RequestSize {
  /** The bytes of the records added so far, with their headers. */
  bytes = 0;
  private readonly _pairs = new Set<number>();
  private readonly _resources = new Set<unknown>();
  private _lastPair = -1;

  constructor(private readonly _table: ResourceScopeTable) {}

  /** What adding a record of resource and scope `pair`, whose body is `length` bytes, adds. */
  cost(pair: number, length: number): number {
    let n = recordWireBytes(length);
    if (pair === this._lastPair || this._pairs.has(pair)) return n;
    const table = this._table;
    const scope = table.encodedScope(pair);
    n += HEADER_FRAMING + scope.field.length + scope.schema.length;
    const resource = table.resource(pair);
    if (!this._resources.has(resource)) {
      if (resource.asyncAttributesPending) {
        // Reading its attributes now would warn (and the request waits for
        // them anyway): an allowance instead.
        n += HEADER_FRAMING + PENDING_RESOURCE_BYTES;
      } else {
        const encoded = table.encodedResource(pair);
        n += HEADER_FRAMING + encoded.field.length + encoded.schema.length;
      }
    }
    return n;
  }

  /** Adds a record: `cost` is what {@link cost} gave for it. */
  add(pair: number, cost: number): void {
    this.bytes += cost;
    if (pair === this._lastPair) return;
    this._lastPair = pair;
    if (this._pairs.has(pair)) return;
    this._pairs.add(pair);
    this._resources.add(this._table.resource(pair));
  }
}

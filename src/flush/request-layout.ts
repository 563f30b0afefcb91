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
    group.size += 1 + varintSize(length) + length;
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

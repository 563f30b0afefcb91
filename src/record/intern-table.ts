import { ProtobufWriter } from './protobuf-writer.js';

/** At most this many strings per table; later ones are written inline. */
export const MAX_INTERNED = 4096;
/** Longer strings are written inline: they are rarely repeated names or keys. */
const MAX_INTERNED_CHARS = 96;

/**
 * Attribute keys and span and event names, each stored once per lap of the
 * ring: a record refers to one by a small id (a varint field the flush
 * expands back into the string), which makes a typical span about a third
 * smaller and skips copying its keys.
 *
 * Bounded and renewed per lap: the ring starts a new table at every lap, and
 * a record lives at most two laps (the lap it was written in and the next),
 * so two tables are live at a time, each with at most {@link MAX_INTERNED}
 * strings. High-cardinality names cannot grow memory: past the cap they are
 * written inline.
 */
export class InternTable {
  private readonly _ids = new Map<string, number>();
  /** Each string as `<varint length><UTF-8>`, the body of the field it expands into. */
  readonly entries: Uint8Array[] = [];
  private _bytes = 0;

  get size(): number {
    return this.entries.length;
  }

  /** Heap bytes of the encoded strings (the Map's own keys come on top). */
  get bytes(): number {
    return this._bytes;
  }

  /** The id of `s`, interning it when there is room; -1 to write it inline. */
  idOf(s: string): number {
    const id = this._ids.get(s);
    if (id !== undefined) return id;
    if (this.entries.length >= MAX_INTERNED || s.length > MAX_INTERNED_CHARS) return -1;
    const w = new ProtobufWriter(new Uint8Array(5 + 3 * s.length));
    w.string(s);
    const entry = w.buf.slice(0, w.pos);
    const next = this.entries.length;
    this.entries.push(entry);
    this._ids.set(s, next);
    this._bytes += entry.length;
    return next;
  }
}

import { ProtobufWriter, putVarint, varintSize } from './protobuf-writer.js';

/** At most this many strings and attributes per table; later ones are written inline. */
export const MAX_INTERNED = 8192;
/**
 * Ring bytes per entry a table may hold: each entry costs about 800 bytes of
 * heap with its map entries, key entry and shape, so a ring of `maxBytes`
 * keeps its two tables within about 0.4 × `maxBytes` (at least
 * {@link MIN_INTERNED} entries) even when every name and key is new.
 */
const RING_BYTES_PER_ENTRY = 4096;
const MIN_INTERNED = 256;
/** Longer names and keys are written inline: they are rarely repeated names or keys. */
const MAX_INTERNED_CHARS = 96;
/** Longer string values are never interned as a whole attribute. */
const MAX_VALUE_CHARS = 160;
/** Values remembered per attribute key, the last ones seen. */
export const VALUES_PER_KEY = 4;
/** Bounds of a table's whole-attribute bytes: 1/64 of the ring, within these. */
const MIN_ATTRIBUTE_BYTES = 4096;
const MAX_ATTRIBUTE_BYTES = 128 * 1024;

/**
 * An attribute key: its interned id, and the last values seen with it, each
 * with the id of the whole attribute once interned (-1 while seen once).
 */
export class KeyEntry {
  readonly values: unknown[] = new Array<unknown>(VALUES_PER_KEY).fill(undefined);
  readonly ids: number[] = new Array<number>(VALUES_PER_KEY).fill(-1);
  /** Where the next new value goes, round robin. */
  private _next = 0;
  /** The slot that matched last, tried first. */
  hit = 0;
  /** Lookups in a row that found no value: a key whose values never repeat (an id, a path). */
  private _misses = 0;
  /** Lookups still to skip before the next probe. */
  private _skip = 0;
  constructor(readonly id: number) {}

  /**
   * Whether to look the value up now. After {@link MISS_STREAK} misses in a
   * row, only one lookup in {@link PROBE_EVERY} is made (and remembered), so
   * a key whose values never repeat costs no string compares, while one
   * whose values start to repeat is found again within a few probes.
   */
  probe(): boolean {
    if (this._skip === 0) return true;
    this._skip--;
    return false;
  }

  /** Counts a lookup's outcome. */
  found(hit: boolean): void {
    if (hit) this._misses = 0;
    else if (++this._misses >= MISS_STREAK) this._skip = PROBE_EVERY - 1;
  }

  /**
   * Remembers a value seen for the first time. It takes the place of a value
   * seen once before, so values that never repeat (ids, paths) pass through
   * without pushing out the ones interned; only when every slot holds an
   * interned value does the oldest place go.
   */
  remember(value: unknown): unknown {
    let slot = -1;
    for (let k = 0; k < VALUES_PER_KEY; k++) {
      const s = (this._next + k) % VALUES_PER_KEY;
      if (this.ids[s]! < 0) {
        slot = s;
        break;
      }
    }
    if (slot < 0) slot = this._next;
    const replaced = this.values[slot];
    this.values[slot] = value;
    this.ids[slot] = -1;
    this._next = (slot + 1) % VALUES_PER_KEY;
    return replaced;
  }
}

/** Misses in a row after which a key's values are looked up only now and then. */
const MISS_STREAK = 16;
/** Then one lookup in this many. */
const PROBE_EVERY = 16;

/** Attribute positions an {@link AttributeShape} remembers. */
export const MAX_SHAPE_KEYS = 64;
/**
 * Key orders remembered per name, told apart by their first key or, when
 * that is shared, by the first key where they part.
 */
export const MAX_SHAPES_PER_NAME = 8;
/**
 * Positions all the shapes of one table hold at most (about 32 bytes each):
 * a service has tens to hundreds of span names with 5–30 keys each; past
 * this, new positions are not remembered and their keys are looked up.
 */
export const MAX_SHAPE_POSITIONS = 16_384;

/**
 * The attribute keys last seen, by position, on spans (or events) of one
 * name, with their entries: spans of one name mostly set the same keys in
 * the same order, so the encoder finds a key's entry by comparing it with
 * the one at its position instead of looking it up.
 */
export class AttributeShape {
  readonly keys: string[] = [];
  readonly entries: KeyEntry[] = [];
  /**
   * The value last written at each position as a whole interned attribute,
   * and that attribute's id (-1 when none): a span that repeats it costs two
   * compares and a reference, not a lookup among the key's values.
   */
  readonly values: unknown[] = [];
  readonly refs: number[] = [];
  /** What expanding each position's reference adds to the record: the entry's length less the id's. */
  readonly extras: number[] = [];
  /** Another key order of the same name. */
  private _next: AttributeShape | undefined;
  /** The name's first shape, where its chain starts. */
  private readonly _head: AttributeShape;

  /** `budget` counts the positions of every shape of one table. */
  constructor(
    private readonly _budget: { positions: number },
    head?: AttributeShape,
  ) {
    this._head = head ?? this;
  }

  /**
   * The shape whose first key is `first`, among the at most
   * {@link MAX_SHAPES_PER_NAME} of this name: spans of one name can carry
   * different keys (an HTTP client span is named after its method, whatever
   * service it calls). A new order takes a new shape, or the last one.
   */
  select(first: string): AttributeShape {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walks the chain from here
    let shape: AttributeShape = this;
    for (let n = 1; ; n++) {
      if (shape.keys.length === 0 || shape.keys[0] === first) return shape;
      const next = shape._next;
      if (next === undefined) {
        if (n >= MAX_SHAPES_PER_NAME) return shape;
        return (shape._next = new AttributeShape(this._budget, this._head));
      }
      shape = next;
    }
  }

  /**
   * The shape of this name to go on with for a span whose key at position
   * `k` is `key`, where this shape holds another: the first in the chain
   * that holds `key` there; else a new one, holding this shape's first `k`
   * keys, while the name has fewer than {@link MAX_SHAPES_PER_NAME}; else
   * this one, whose position the caller then overwrites. Two key orders
   * that share a first key (an HTTP server span and an HTTP client span,
   * both named `GET`) so keep a shape each, instead of overwriting each
   * other's positions span after span.
   */
  branch(k: number, key: string): AttributeShape {
    let last = this._head;
    let n = 1;
    for (let s: AttributeShape | undefined = last; s !== undefined; s = s._next) {
      if (s.keys[k] === key) return s;
      last = s;
      n++;
    }
    if (n > MAX_SHAPES_PER_NAME || this._budget.positions + k > MAX_SHAPE_POSITIONS) return this;
    const fork = new AttributeShape(this._budget, this._head);
    for (let i = 0; i < k; i++) fork.set(i, this.keys[i]!, this.entries[i]!);
    last._next = fork;
    return fork;
  }

  set(k: number, key: string, entry: KeyEntry): void {
    if (k < this.keys.length) {
      this.keys[k] = key;
      this.entries[k] = entry;
      this.values[k] = undefined;
      this.refs[k] = -1;
      this.extras[k] = 0;
    } else if (k === this.keys.length && this._budget.positions < MAX_SHAPE_POSITIONS) {
      this._budget.positions++;
      this.keys.push(key);
      this.entries.push(entry);
      this.values.push(undefined);
      this.refs.push(-1);
      this.extras.push(0);
    }
  }

  /**
   * Remembers that position `k`, holding its key, was written as whole
   * attribute `id` for `value`. Call it through {@link InternTable.written},
   * which counts the value against the table's budget.
   */
  written(k: number, value: unknown, id: number, extra: number): void {
    this.values[k] = value;
    this.refs[k] = id;
    this.extras[k] = extra;
  }
}

/**
 * Names, attribute keys and whole attributes, each stored once per lap of
 * the ring: a record refers to one by a small id (a varint field the flush
 * expands back into the bytes it stands for), which makes a typical span
 * less than half its size, skips copying its keys and, for an attribute
 * whose value repeats (a method, a route, a user agent, a SQL statement),
 * its value too.
 *
 * - A name or key is interned on first sight.
 * - A whole attribute (key and a string, number or boolean value) is
 *   interned when its value is seen a second time among the last
 *   {@link VALUES_PER_KEY} values of its key, so values that never repeat
 *   (ids, paths) cost a compare, not an entry.
 *
 * Entries are `<varint length><bytes>` in one byte slab: for a string, the
 * body of the string field it expands into; for an attribute, the
 * `KeyValue` message, key written out.
 *
 * Bounded and renewed per lap: the ring starts a new table at every lap, and
 * a record lives at most two laps (the lap it was written in and the next),
 * so two tables are live at a time, each with at most one entry per 4 KiB of
 * ring (256 to {@link MAX_INTERNED}), whole-attribute bytes of at most 1/64 of the ring (4 KiB to
 * 128 KiB), and remembered values (the key entries' and the shapes') of at
 * most half as many chars. A shape's position that drops its value (its key
 * changed) is not credited back: the count only overstates, until the lap
 * renews the table. All its shapes hold at most {@link MAX_SHAPE_POSITIONS}
 * positions.
 * High-cardinality names and values cannot grow memory: past the caps they
 * are written inline.
 */
export class InternTable {
  private readonly _ids = new Map<string, number>();
  private readonly _keys = new Map<string, KeyEntry>();
  /** The attribute shape of each name, by its id (made on first use). */
  private readonly _shapes: (AttributeShape | undefined)[] = [];
  /** Positions of all those shapes, bounded by {@link MAX_SHAPE_POSITIONS}. */
  private readonly _shapeBudget = { positions: 0 };
  /** The entries' bytes; entry `id` is `slab[off[id], off[id] + len[id])`. */
  slab = new Uint8Array(1024);
  off = new Int32Array(64);
  len = new Int32Array(64);
  private _size = 0;
  private _used = 0;
  private _attributeBytes = 0;
  /** Chars of the string values the key entries remember. */
  private _rememberedChars = 0;
  private readonly _maxAttributeBytes: number;
  /** The most entries this table holds. */
  private readonly _maxEntries: number;
  private readonly _scratch = new ProtobufWriter(new Uint8Array(0));

  /** `ringBytes` sizes the whole-attribute bytes allowed. */
  constructor(ringBytes = 0) {
    this._maxEntries =
      ringBytes > 0
        ? Math.min(
            MAX_INTERNED,
            Math.max(MIN_INTERNED, Math.floor(ringBytes / RING_BYTES_PER_ENTRY)),
          )
        : MAX_INTERNED;
    this._maxAttributeBytes = Math.min(
      MAX_ATTRIBUTE_BYTES,
      Math.max(MIN_ATTRIBUTE_BYTES, Math.floor(ringBytes / 64)),
    );
  }

  get size(): number {
    return this._size;
  }

  /** Positions the table's attribute shapes hold. */
  get shapePositions(): number {
    return this._shapeBudget.positions;
  }

  /** Chars of the string values the key entries and shapes remember. */
  get rememberedChars(): number {
    return this._rememberedChars;
  }

  /** The most chars of string values remembered: half the whole-attribute bytes. */
  get maxRememberedChars(): number {
    return this._maxAttributeBytes >> 1;
  }

  /** Heap bytes of the entries and their offsets (the Maps' own keys come on top). */
  get bytes(): number {
    return this.slab.byteLength + this.off.byteLength + this.len.byteLength;
  }

  /** The id of `s`, interning it when there is room; -1 to write it inline. */
  idOf(s: string): number {
    const id = this._ids.get(s);
    if (id !== undefined) return id;
    if (this._size >= this._maxEntries || s.length > MAX_INTERNED_CHARS) return -1;
    const w = this._scratch;
    const need = 5 + 3 * s.length;
    if (w.buf.length < need) w.reset(new Uint8Array(Math.max(need, 256)));
    w.pos = 0;
    w.end = w.buf.length;
    w.string(s);
    const next = this._add(w.buf, 0, w.pos);
    if (next >= 0) this._ids.set(s, next);
    return next;
  }

  /**
   * Remembers `value`, seen for the first time with the key of `entry`,
   * within the table's budget of remembered string chars (half its
   * whole-attribute bytes), so the values kept alive are bounded too.
   */
  remember(entry: KeyEntry, value: unknown): void {
    const n = typeof value === 'string' ? value.length : 0;
    if (this._rememberedChars + n > this.maxRememberedChars) return;
    const replaced = entry.remember(value);
    this._rememberedChars += n - (typeof replaced === 'string' ? replaced.length : 0);
  }

  /**
   * Remembers in `shape` that its position `k` was written as whole
   * attribute `id` for `value`, within the same budget of remembered string
   * chars as the key entries' values: past it, the position is not
   * remembered and the next span takes the key entry's path.
   */
  written(shape: AttributeShape, k: number, value: unknown, id: number): void {
    if (k >= shape.keys.length) return;
    const old = shape.values[k];
    const delta =
      (typeof value === 'string' ? value.length : 0) - (typeof old === 'string' ? old.length : 0);
    if (delta > 0 && this._rememberedChars + delta > this.maxRememberedChars) return;
    shape.written(k, value, id, this.len[id]! - varintSize(id));
    this._rememberedChars += delta;
  }

  /** The attribute shape of spans or events named by entry `id`. */
  shape(id: number): AttributeShape {
    let shape = this._shapes[id];
    if (shape === undefined) {
      while (this._shapes.length < id) this._shapes.push(undefined);
      shape = new AttributeShape(this._shapeBudget);
      this._shapes[id] = shape;
    }
    return shape;
  }

  /** The entry of attribute key `key`, interning it when there is room; undefined to write it inline. */
  key(key: string): KeyEntry | undefined {
    const entry = this._keys.get(key);
    if (entry !== undefined) return entry;
    const id = this.idOf(key);
    if (id < 0) return undefined;
    const made = new KeyEntry(id);
    this._keys.set(key, made);
    return made;
  }

  /**
   * Interns a whole attribute from the `KeyValue` the encoder just wrote
   * with the key as id `keyId`: `expandedLength` is its length once
   * expanded, `src[from, to)` its value field. Returns its id, or -1 when a
   * cap is reached.
   */
  addAttribute(
    expandedLength: number,
    keyId: number,
    src: Uint8Array,
    from: number,
    to: number,
  ): number {
    if (this._size >= this._maxEntries) return -1;
    const keyLen = this.len[keyId]!;
    const n = varintSize(expandedLength) + expandedLength;
    if (this._attributeBytes + n > this._maxAttributeBytes) return -1;
    if (1 + keyLen + (to - from) !== expandedLength) return -1;
    this._room(n);
    const slab = this.slab;
    const at = this._used;
    let p = putVarint(slab, at, expandedLength);
    slab[p++] = 0x0a;
    slab.copyWithin(p, this.off[keyId]!, this.off[keyId]! + keyLen);
    p += keyLen;
    slab.set(src.subarray(from, to), p);
    p += to - from;
    this._attributeBytes += n;
    return this._commit(at, p - at);
  }

  private _add(src: Uint8Array, from: number, to: number): number {
    if (this._size >= this._maxEntries) return -1;
    const n = to - from;
    this._room(n);
    const at = this._used;
    this.slab.set(src.subarray(from, to), at);
    return this._commit(at, n);
  }

  private _room(n: number): void {
    if (this._used + n <= this.slab.length) return;
    let size = this.slab.length * 2;
    while (size < this._used + n) size *= 2;
    const slab = new Uint8Array(size);
    slab.set(this.slab.subarray(0, this._used));
    this.slab = slab;
  }

  private _commit(at: number, n: number): number {
    const id = this._size++;
    if (id === this.off.length) {
      const off = new Int32Array(id * 2);
      const len = new Int32Array(id * 2);
      off.set(this.off);
      len.set(this.len);
      this.off = off;
      this.len = len;
    }
    this.off[id] = at;
    this.len[id] = n;
    this._used = at + n;
    return id;
  }
}

/** Whether `value` may be interned as part of a whole attribute. */
export function cacheableValue(value: unknown): boolean {
  const t = typeof value;
  return (
    t === 'number' ||
    t === 'boolean' ||
    (t === 'string' && (value as string).length <= MAX_VALUE_CHARS)
  );
}

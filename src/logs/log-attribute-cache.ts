import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../marks.js';
import { ProtobufWriter } from '../record/protobuf-writer.js';
import { writeAnyValue } from '../record/span-encoder.js';
import { put } from './log-bytes.js';

/** Limits of a {@link LogAttributeCache}; the defaults suit one processor. */
export interface LogAttributeCacheLimits {
  /** Keys remembered at a time; later keys are written out. */
  readonly maxKeys: number;
  /** Bytes of whole encoded attributes kept between two renewals (each also takes a small array's overhead). */
  readonly keptBytes: number;
  /** Records written, at least, between two renewals of a full cache. */
  readonly renewAfter: number;
}

export const DEFAULT_LOG_ATTRIBUTE_CACHE: LogAttributeCacheLimits = {
  maxKeys: 256,
  keptBytes: 32 * 1024,
  renewAfter: 16_384,
};

/** Values remembered per key, the last ones seen. */
export const VALUES_PER_KEY = 4;
/** Longer keys are written out: they are rarely repeated keys. */
const MAX_KEY_CHARS = 128;
/** Longer string values are never kept whole. */
const MAX_VALUE_CHARS = 64;
/** A whole attribute longer than this is never kept (a key of unicode and a long value). */
const MAX_ATTRIBUTE_BYTES = 512;
/** Attribute positions the last record's shape remembers. */
const MAX_SHAPE_KEYS = 64;
/** Misses in a row after which a key's values are taken as never repeating. */
const MISSES = 8;
/** How many of such a key's values are then written without looking, before it is tried again. */
const COOLDOWN = 256;

/**
 * An attribute key: its encoded key field, and the last values seen with
 * it, each with its whole encoded attribute once kept.
 */
class LogKey {
  /** Undefined when empty: an undefined value is never looked up. */
  readonly values: unknown[] = new Array<unknown>(VALUES_PER_KEY).fill(undefined);
  /** The whole encoded attribute of each value kept, undefined while seen once. */
  readonly kept: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(
    VALUES_PER_KEY,
  ).fill(undefined);
  /** The slot that matched last, tried first. */
  hit = 0;
  /** Where the next new value goes, round robin. */
  private _next = 0;
  /** Misses in a row; past {@link MISSES}, the values written without looking. */
  misses = 0;
  cooldown = 0;

  /**
   * @param field `0a <len> key`: the key field of a KeyValue, written once.
   * @param skip Named like a flush mark: left out, the marks replace it at flush.
   */
  constructor(
    readonly field: Uint8Array,
    readonly skip: boolean,
  ) {}

  /**
   * Remembers a value seen for the first time, in the place of a value seen
   * once before, so values that never repeat (ids) pass through without
   * pushing out the ones kept; only when every slot holds a kept value does
   * the oldest place go.
   */
  remember(value: unknown): void {
    let slot = -1;
    for (let k = 0; k < VALUES_PER_KEY; k++) {
      const s = (this._next + k) % VALUES_PER_KEY;
      if (this.kept[s] === undefined) {
        slot = s;
        break;
      }
    }
    if (slot < 0) slot = this._next;
    this.values[slot] = value;
    this.kept[slot] = undefined;
    this._next = (slot + 1) % VALUES_PER_KEY;
  }
}

/**
 * Writes log attributes as repeated KeyValue (field 6 of LogRecord), the
 * bytes the SDK's `writeAttributes` writes (values through the same
 * `writeAnyValue`), from what it has kept of earlier records: each key's
 * encoded key field, and whole encoded attributes (key and a string, number
 * or boolean value) whose value was seen a second time among the last
 * {@link VALUES_PER_KEY} values of its key, copied as bytes instead of
 * encoded again. Values that never repeat cost a compare. Records hold the
 * whole bytes either way: nothing refers to the cache, so a flush has
 * nothing to expand.
 *
 * Bounded: at most `maxKeys` keys (up to {@link MAX_KEY_CHARS} chars), each
 * remembering {@link VALUES_PER_KEY} values of at most
 * {@link MAX_VALUE_CHARS} chars, and `keptBytes` of attributes kept (a kept
 * attribute pushed out still counts until the renewal). Past a bound, keys
 * and values are written out; a cache that hit one starts over once
 * `renewAfter` records have passed since it last did (about half a lap of
 * the default ring), so it follows the keys and values now in use, and
 * high-cardinality keys or values cannot grow memory or renew it per record.
 */
export class LogAttributeCache {
  private readonly _keys = new Map<string, LogKey>();
  /** The keys of the last record, by position, with their entries: records mostly repeat them in order. */
  private readonly _shapeKeys: string[] = [];
  private readonly _shapeEntries: LogKey[] = [];
  /** Bytes of the whole attributes kept since the last renewal, within `keptBytes`. */
  private _used = 0;
  /** A bound was hit: the cache renews once `renewAfter` records have passed. */
  private _full = false;
  private _records = 0;
  private readonly _limits: LogAttributeCacheLimits;
  private readonly _scratch = new ProtobufWriter(new Uint8Array(5 + 3 * MAX_KEY_CHARS + 1));

  constructor(limits: LogAttributeCacheLimits = DEFAULT_LOG_ATTRIBUTE_CACHE) {
    this._limits = limits;
  }

  /** Keys and kept bytes now held (for tests). */
  get size(): { keys: number; bytes: number } {
    return { keys: this._keys.size, bytes: this._used };
  }

  /** Forgets every key and value. */
  renew(): void {
    this._keys.clear();
    this._shapeKeys.length = 0;
    this._shapeEntries.length = 0;
    this._used = 0;
    this._full = false;
    this._records = 0;
  }

  /** Writes `attributes` at `w.pos`; throws WriterFull when they do not fit. */
  write(w: ProtobufWriter, attributes: Readonly<Record<string, unknown>>): void {
    if (++this._records >= this._limits.renewAfter && this._full) this.renew();
    if (attributes === undefined || attributes === null) return;
    const shapeKeys = this._shapeKeys;
    let k = 0;
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
      let entry: LogKey | undefined;
      if (k < shapeKeys.length && shapeKeys[k] === key) {
        entry = this._shapeEntries[k];
      } else {
        entry = this._entry(key);
        if (entry !== undefined && k <= shapeKeys.length && k < MAX_SHAPE_KEYS) {
          shapeKeys[k] = key;
          this._shapeEntries[k] = entry;
        }
      }
      k++;
      if (entry === undefined) {
        writeOut(w, key, attributes[key]);
        continue;
      }
      if (entry.skip) continue;
      const value = attributes[key];
      if (entry.cooldown > 0) {
        entry.cooldown--;
        writeWith(w, entry.field, value);
        continue;
      }
      const t = typeof value;
      if (!(
        t === 'number' ||
        t === 'boolean' ||
        (t === 'string' && (value as string).length <= MAX_VALUE_CHARS)
      )) {
        writeWith(w, entry.field, value);
        continue;
      }
      const values = entry.values;
      let s = entry.hit;
      if (values[s] !== value) {
        s = -1;
        for (let i = 0; i < VALUES_PER_KEY; i++) {
          if (values[i] === value) {
            s = i;
            break;
          }
        }
      }
      if (s < 0) {
        writeWith(w, entry.field, value);
        entry.remember(value);
        if (++entry.misses >= MISSES) {
          // Values that do not repeat (ids, counters): stop looking for a while.
          entry.misses = 0;
          entry.cooldown = COOLDOWN;
        }
        continue;
      }
      entry.misses = 0;
      entry.hit = s;
      const kept = entry.kept[s];
      if (kept !== undefined) {
        put(w, kept);
        continue;
      }
      // Seen a second time: kept whole, from the bytes just written.
      const from = w.pos;
      writeWith(w, entry.field, value);
      this._keep(entry, s, w.buf, from, w.pos - from);
    }
  }

  /** The entry of `key`, made on first sight; undefined when the key is too long or the cache is full. */
  private _entry(key: string): LogKey | undefined {
    const known = this._keys.get(key);
    if (known !== undefined) return known;
    if (key.length > MAX_KEY_CHARS) return undefined;
    if (this._keys.size >= this._limits.maxKeys) {
      this._full = true;
      return undefined;
    }
    const w = this._scratch;
    w.pos = 0;
    w.byte(0x0a);
    w.string(key);
    const skip =
      (key.length === SNAPSHOT_ID_ATTRIBUTE.length && key === SNAPSHOT_ID_ATTRIBUTE) ||
      (key.length === TRIGGER_ATTRIBUTE.length && key === TRIGGER_ATTRIBUTE);
    const entry = new LogKey(w.buf.slice(0, w.pos), skip);
    this._keys.set(key, entry);
    return entry;
  }

  /** Keeps the attribute `src[from, from + n)` as slot `s` of `entry`, within the byte budget. */
  private _keep(entry: LogKey, s: number, src: Uint8Array, from: number, n: number): void {
    if (n > MAX_ATTRIBUTE_BYTES) return;
    if (this._used + n > this._limits.keptBytes) {
      this._full = true;
      return;
    }
    this._used += n;
    entry.kept[s] = src.slice(from, from + n);
  }
}

/** Writes one KeyValue (field 6) with its key field already encoded. */
function writeWith(w: ProtobufWriter, field: Uint8Array, value: unknown): void {
  if (writeShort(w, field, value)) return;
  w.byte(0x32);
  const kv = w.start();
  put(w, field);
  w.byte(0x12);
  const at = w.start();
  if (typeof value === 'string') {
    w.byte(0x0a);
    w.string(value);
  } else {
    writeAnyValue(w, value, 0);
  }
  // No interned strings in a log record: nothing to add to the lengths.
  w.finish(at, 0);
  w.finish(kv, 0);
}

/**
 * The usual attribute in one pass, without the writer's calls: an ASCII
 * string below 64 chars or an integer in [0, 128) after a key field of at
 * most 60 bytes, so every length is below 128, takes one byte and is known
 * when written. False, with nothing written, for anything else.
 */
function writeShort(w: ProtobufWriter, field: Uint8Array, value: unknown): boolean {
  const f = field.length;
  if (f > 60) return false;
  const buf = w.buf;
  const start = w.pos;
  if (typeof value === 'string') {
    const n = value.length;
    // 32 <kv> <field> 12 <any> 0a <n> <chars>
    const end = start + 6 + f + n;
    if (n >= 64 || end > w.end) return false;
    let p = start + 6 + f;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) return false;
      buf[p++] = c;
    }
    buf[start] = 0x32;
    buf[start + 1] = f + 4 + n;
    for (let i = 0; i < f; i++) buf[start + 2 + i] = field[i]!;
    p = start + 2 + f;
    buf[p] = 0x12;
    buf[p + 1] = 2 + n;
    buf[p + 2] = 0x0a;
    buf[p + 3] = n;
    w.pos = end;
    return true;
  }
  if (typeof value === 'number' && value >= 0 && value < 0x80 && (value | 0) === value) {
    // 32 <kv> <field> 12 02 18 <value>
    const end = start + 6 + f;
    if (end > w.end) return false;
    buf[start] = 0x32;
    buf[start + 1] = f + 4;
    for (let i = 0; i < f; i++) buf[start + 2 + i] = field[i]!;
    const p = start + 2 + f;
    buf[p] = 0x12;
    buf[p + 1] = 2;
    buf[p + 2] = 0x18;
    buf[p + 3] = value;
    w.pos = end;
    return true;
  }
  return false;
}

/** Writes one KeyValue (field 6) from scratch: a key the cache does not hold. */
function writeOut(w: ProtobufWriter, key: string, value: unknown): void {
  const n = key.length;
  if (
    (n === SNAPSHOT_ID_ATTRIBUTE.length && key === SNAPSHOT_ID_ATTRIBUTE) ||
    (n === TRIGGER_ATTRIBUTE.length && key === TRIGGER_ATTRIBUTE)
  ) {
    return;
  }
  w.byte(0x32);
  const kv = w.start();
  w.byte(0x0a);
  w.string(key);
  w.byte(0x12);
  const at = w.start();
  if (typeof value === 'string') {
    w.byte(0x0a);
    w.string(value);
  } else {
    writeAnyValue(w, value, 0);
  }
  w.finish(at, 0);
  w.finish(kv, 0);
}

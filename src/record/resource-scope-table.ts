import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ProtobufWriter, WriterFull } from './protobuf-writer.js';
import { writeAttributes } from './span-encoder.js';

type Resource = ReadableSpan['resource'];
type InstrumentationScope = ReadableSpan['instrumentationScope'];

/** Ids are stored in a Uint16Array index. */
export const MAX_PAIRS = 0xffff;
/** The least time between two renewals of a full table, in ms. */
const RENEW_INTERVAL_MS = 1_000;

/** The pre-encoded fields of one resource, for a `ResourceSpans` header. */
export interface EncodedResource {
  /** `0a <len> Resource`: field 1 of ResourceSpans. */
  readonly field: Uint8Array;
  /** `1a <len> schema_url`, or empty: field 3, after the scope spans. */
  readonly schema: Uint8Array;
}

/** The pre-encoded fields of one scope, for a `ScopeSpans` header. */
export interface EncodedScope {
  /** `0a <len> InstrumentationScope`: field 1 of ScopeSpans. */
  readonly field: Uint8Array;
  /** `1a <len> schema_url`, or empty: field 3, after the spans. */
  readonly schema: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Encodes a message with a growing scratch buffer (cold path). */
function encodeMessage(write: (w: ProtobufWriter) => void): Uint8Array {
  for (let size = 1024; ; size *= 4) {
    const w = new ProtobufWriter(new Uint8Array(size));
    try {
      write(w);
      return w.buf.slice(0, w.pos);
    } catch (error) {
      if (error !== WriterFull) throw error;
    }
  }
}

function schemaField(url: string | undefined): Uint8Array {
  if (!url) return EMPTY;
  return encodeMessage((w) => {
    w.byte(0x1a);
    w.string(url);
  });
}

/** `Resource` as the SDK writes it: attributes, then dropped_attributes_count 0. */
export function encodeResource(resource: Resource): EncodedResource {
  return {
    field: encodeMessage((w) => {
      w.byte(0x0a);
      const at = w.start();
      writeAttributes(w, resource.attributes, 0x0a, false);
      w.bytes2(0x10, 0x00);
      w.finish(at);
    }),
    schema: schemaField(resource.schemaUrl),
  };
}

/** `InstrumentationScope` as the SDK writes it. */
export function encodeScope(scope: InstrumentationScope): EncodedScope {
  const s = scope as InstrumentationScope & { attributes?: never; droppedAttributesCount?: number };
  return {
    field: encodeMessage((w) => {
      w.byte(0x0a);
      const at = w.start();
      w.byte(0x0a);
      w.string(String(scope.name));
      if (scope.version) {
        w.byte(0x12);
        w.string(scope.version);
      }
      if (s.attributes) writeAttributes(w, s.attributes, 0x1a, false);
      if (s.droppedAttributesCount) {
        w.byte(0x20);
        w.varint32(s.droppedAttributesCount);
      }
      w.finish(at);
    }),
    schema: schemaField(scope.schemaUrl),
  };
}

/**
 * The resources and instrumentation scopes of recorded spans, each pair under
 * a small id that records carry in the index. The objects are kept so that
 * decoded spans share them, as the SDK's serializers group by identity; their
 * encodings are made once, at the first flush that needs them, after the
 * resource's async attributes have settled.
 *
 * Bounded: at most {@link MAX_PAIRS} pairs. When it is full, ids no record
 * carries any more (in the ring, waiting for export or in flight) are freed
 * by {@link renewFull}, so scopes made per request neither grow memory nor,
 * once 65,535 have been seen, keep every new one out.
 */
export class ResourceScopeTable {
  private readonly _ids = new Map<Resource, Map<InstrumentationScope, number>>();
  private readonly _resources: (Resource | undefined)[] = [];
  private readonly _scopes: (InstrumentationScope | undefined)[] = [];
  private readonly _free: number[] = [];
  private _size = 0;
  private _lastResource: Resource | undefined;
  private _lastScope: InstrumentationScope | undefined;
  private _lastId = -1;
  /** When {@link renewFull} last scanned the holders (performance.now() ms). */
  private _renewedAt = Number.NEGATIVE_INFINITY;
  private readonly _encodedResources = new WeakMap<Resource, EncodedResource>();
  private readonly _encodedScopes = new WeakMap<InstrumentationScope, EncodedScope>();

  get size(): number {
    return this._size;
  }

  /** The id of the pair; -1 when the table is full. */
  idOf(resource: Resource, scope: InstrumentationScope): number {
    if (resource === this._lastResource && scope === this._lastScope) return this._lastId;
    let scopes = this._ids.get(resource);
    let id = scopes?.get(scope);
    if (id === undefined) {
      if (this._free.length === 0 && this._resources.length >= MAX_PAIRS) return -1;
      id = this._free.length > 0 ? this._free.pop()! : this._resources.length;
      this._resources[id] = resource;
      this._scopes[id] = scope;
      this._size++;
      if (scopes === undefined) {
        scopes = new Map();
        this._ids.set(resource, scopes);
      }
      scopes.set(scope, id);
    }
    this._lastResource = resource;
    this._lastScope = scope;
    this._lastId = id;
    return id;
  }

  /** The resource of the pair recorded last, else of any pair still held (for crash dumps). */
  lastResource(): Resource | undefined {
    return this._lastResource ?? this._resources.find((r) => r !== undefined);
  }

  resource(id: number): Resource {
    return this._resources[id]!;
  }

  scope(id: number): InstrumentationScope {
    return this._scopes[id]!;
  }

  encodedResource(id: number): EncodedResource {
    const resource = this._resources[id]!;
    let encoded = this._encodedResources.get(resource);
    if (encoded === undefined) {
      encoded = encodeResource(resource);
      // A resource still detecting attributes is encoded again next time.
      if (!resource.asyncAttributesPending) this._encodedResources.set(resource, encoded);
    }
    return encoded;
  }

  encodedScope(id: number): EncodedScope {
    const scope = this._scopes[id]!;
    let encoded = this._encodedScopes.get(scope);
    if (encoded === undefined) {
      encoded = encodeScope(scope);
      this._encodedScopes.set(scope, encoded);
    }
    return encoded;
  }

  /**
   * For a table that is full ({@link idOf} returned -1): frees the ids that
   * no record carries any more, and returns whether it freed any. `holders`
   * calls `use(id)` for the id of every record still held. It scans every
   * held record, so it runs at most once a second: a flood of new scopes
   * while every id is in use costs a failed lookup each, not a scan.
   */
  renewFull(holders: (use: (id: number) => void) => void, now = performance.now()): boolean {
    if (now - this._renewedAt < RENEW_INTERVAL_MS) return false;
    this._renewedAt = now;
    const used = new Uint8Array(MAX_PAIRS);
    holders((id) => {
      used[id] = 1;
    });
    const before = this._size;
    this.renew((id) => used[id] === 1);
    return this._size < before;
  }

  /** Frees every id for which `used(id)` is false. */
  renew(used: (id: number) => boolean): void {
    for (let id = 0; id < this._resources.length; id++) {
      const resource = this._resources[id];
      if (resource === undefined || used(id)) continue;
      const scopes = this._ids.get(resource)!;
      scopes.delete(this._scopes[id]!);
      if (scopes.size === 0) this._ids.delete(resource);
      this._resources[id] = undefined;
      this._scopes[id] = undefined;
      this._free.push(id);
      this._size--;
    }
    this._lastResource = undefined;
    this._lastScope = undefined;
    this._lastId = -1;
  }
}

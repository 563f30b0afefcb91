import { createRequire } from 'node:module';
import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const require = createRequire(import.meta.url);

interface ProtoType {
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}

/**
 * `ExportTraceServiceRequest` from opentelemetry-proto, as protobufjs
 * generated it (shipped in @opentelemetry/otlp-transformer 0.210.0, installed
 * under the alias `otlp-proto-root`): a decoder that is not ours.
 */
const root = require('otlp-proto-root/build/src/generated/root.js') as {
  opentelemetry: {
    proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtoType } } } };
  };
};
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** Decodes request bytes into a plain object (64-bit numbers as strings, bytes as base64). */
export function decodeRequest(bytes: Uint8Array): unknown {
  return Request.toObject(Request.decode(bytes), {
    longs: String,
    bytes: String,
    defaults: false,
    arrays: true,
  });
}

/** A resource-like object: all the serializers read is attributes and schemaUrl. */
function fakeResource(attributes: Attributes, schemaUrl?: string): Resource {
  return {
    attributes,
    schemaUrl,
    asyncAttributesPending: false,
    merge: () => {
      throw new Error('not used');
    },
    getRawAttributes: () => Object.entries(attributes),
    waitForAsyncAttributes: async () => {},
  } as unknown as Resource;
}

export const RESOURCES: readonly Resource[] = [
  fakeResource({ 'service.name': 'svc-a', 'host.name': 'h1' }),
  fakeResource(
    { 'service.name': 'svc-b', count: 3, ratio: 0.5 },
    'https://opentelemetry.io/schemas/1.27.0',
  ),
  fakeResource({}),
];

export const SCOPES: readonly Scope[] = [
  { name: 'scope-a', version: '1.2.3' },
  { name: 'scope-b' },
  { name: 'scope-c', version: '0.1.0', schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
];

const hex = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .filter((b) => b.some((x) => x !== 0))
    .map((b) => Buffer.from(b).toString('hex'));

export const traceIdArb = hex(16);
export const spanIdArb = hex(8);

/** Strings the SDK round-trips exactly through protobuf and JSON alike (no lone surrogates). */
export const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom('héllo wörld', '日本語テキスト', 'emoji 🎉 ok', 'x'.repeat(300), 'ß'.repeat(70)),
);

/** Strings including lone surrogates, which protobuf carries as U+FFFD. */
export const anyText = fc.oneof(
  text,
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constant('a\ud800b\udfffc'),
);

const key = (t: fc.Arbitrary<string>) =>
  t.filter((k) => k !== 'flight_recorder.snapshot.id' && k !== 'flight_recorder.trigger');

const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(
    2 ** 60,
    -(2 ** 62),
    2 ** 63,
    -(2 ** 63),
    -0,
    0.5,
    Number.NaN,
    Infinity,
    -Infinity,
  ),
  fc.double(),
);

export function values(t: fc.Arbitrary<string>) {
  const primitive = fc.oneof(t, number, fc.boolean());
  return fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      primitive,
      primitive,
      fc.uint8Array({ maxLength: 12 }),
      fc.array(fc.oneof(primitive, fc.constant(null)), { maxLength: 4 }),
      fc.dictionary(key(t), tie('value'), { maxKeys: 3 }),
      fc.array(tie('value'), { maxLength: 3 }),
    ),
  })).value;
}

/**
 * Attributes that repeat across spans, as real ones do (a method, a route, a
 * long statement): the recorder interns those whole, so their ids must expand
 * right in spans, events and links, whatever the value's type and length.
 */
const repeated = fc.dictionary(
  fc.constantFrom('http.request.method', 'db.query.text', 'k'),
  fc.constantFrom<unknown>('GET', 'x'.repeat(150), 'ß'.repeat(70), 200, -0, 0.5, true, 2 ** 60),
  { maxKeys: 3 },
);

export const attributesArb = (t: fc.Arbitrary<string>) =>
  fc
    .tuple(repeated, fc.dictionary(key(t), values(t), { maxKeys: 6 }))
    .map(([common, own]) => ({ ...common, ...own })) as fc.Arbitrary<Attributes>;

/** Mostly seconds below 2^32, the encoder's fast path; sometimes up to 18,446,744,072 s, the last second at which any nanoseconds still fit in uint64. */
export const hrTime: fc.Arbitrary<HrTime> = fc.tuple(
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 4_000_000_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 2 ** 32 - 2, max: 18_446_744_072 }) },
  ),
  fc.integer({ min: 0, max: 999_999_999 }),
);

const traceStateArb = fc
  .array(
    fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/), fc.stringMatching(/^[!-+\--<>-~]{1,8}$/)),
    { minLength: 1, maxLength: 3 },
  )
  .map((pairs) => new TraceState(pairs.map(([k, v]) => `${k}=${v}`).join(',')))
  .filter((state) => state.serialize() !== '');

const contextArb = (isRemote: fc.Arbitrary<boolean | undefined>): fc.Arbitrary<SpanContext> =>
  fc.record(
    {
      traceId: traceIdArb,
      spanId: spanIdArb,
      traceFlags: fc.integer({ min: 0, max: 255 }),
      isRemote,
      traceState: traceStateArb,
    },
    { requiredKeys: ['traceId', 'spanId', 'traceFlags'] },
  );

/**
 * Random ended spans as plain `ReadableSpan` objects: every attribute type,
 * unicode, events, links, dropped counts, remote parents, trace state, and
 * the resources and scopes above. With `surrogates`, strings may hold lone
 * surrogates (fine for protobuf, where the SDK too writes U+FFFD).
 */
export function spanArb(surrogates = true): fc.Arbitrary<ReadableSpan> {
  const t = surrogates ? anyText : text;
  return fc
    .record({
      context: contextArb(fc.constant(false)),
      parent: fc.option(contextArb(fc.option(fc.boolean(), { nil: undefined })), {
        nil: undefined,
      }),
      name: t,
      kind: fc.integer({ min: 0, max: 4 }),
      startTime: hrTime,
      endTime: hrTime,
      attributes: attributesArb(t),
      droppedAttributesCount: fc.nat(1000),
      events: fc.array(
        fc.record(
          {
            name: t,
            time: hrTime,
            attributes: attributesArb(t),
            droppedAttributesCount: fc.nat(10),
          },
          { requiredKeys: ['name', 'time'] },
        ),
        { maxLength: 3 },
      ),
      droppedEventsCount: fc.nat(100),
      links: fc.array(
        fc.record(
          {
            context: contextArb(fc.option(fc.boolean(), { nil: undefined })),
            attributes: attributesArb(t),
            droppedAttributesCount: fc.nat(10),
          },
          { requiredKeys: ['context'] },
        ),
        { maxLength: 2 },
      ),
      droppedLinksCount: fc.nat(1000),
      status: fc.record(
        { code: fc.integer({ min: 0, max: 2 }), message: t.filter((m) => m !== '') },
        { requiredKeys: ['code'] },
      ),
      resource: fc.constantFrom(...RESOURCES),
      scope: fc.constantFrom(...SCOPES),
    })
    .map((r) => {
      const parent =
        r.parent === undefined ? undefined : { ...r.parent, traceId: r.context.traceId };
      const span: ReadableSpan = {
        name: r.name,
        kind: r.kind,
        spanContext: () => r.context,
        parentSpanContext: parent,
        startTime: r.startTime,
        endTime: r.endTime,
        status: r.status,
        attributes: r.attributes,
        links: r.links as Link[],
        events: r.events as TimedEvent[],
        duration: [0, 0],
        ended: true,
        resource: r.resource,
        instrumentationScope: r.scope,
        droppedAttributesCount: r.droppedAttributesCount,
        droppedEventsCount: r.droppedEventsCount,
        droppedLinksCount: r.droppedLinksCount,
      };
      return span;
    });
}

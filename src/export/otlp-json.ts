import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const encoder = new TextEncoder();

/** The bytes that open an OTLP/HTTP JSON `ExportTraceServiceRequest` body. */
export const REQUEST_PREFIX: Uint8Array = encoder.encode('{"resourceSpans":[');
/** The bytes that close it. */
export const REQUEST_SUFFIX: Uint8Array = encoder.encode(']}');
/** The separator between two serialized runs of `resourceSpans` items. */
export const ITEM_SEPARATOR: Uint8Array = encoder.encode(',');

/**
 * Serializes spans as one OTLP/HTTP JSON `ExportTraceServiceRequest` body,
 * exactly as `@opentelemetry/exporter-trace-otlp-http` sends it, so the
 * result can be POSTed to any collector's `/v1/traces`.
 */
export function serializeRequest(spans: ReadableSpan[]): Uint8Array {
  return JsonTraceSerializer.serializeRequest(spans) ?? encoder.encode('{"resourceSpans":[]}');
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Serializes spans as the items of a `resourceSpans` array, without the
 * brackets: the piece to join with {@link ITEM_SEPARATOR} between
 * {@link REQUEST_PREFIX} and {@link REQUEST_SUFFIX}, so a large window can be
 * written a batch at a time. OTLP allows a resource to appear in several
 * items. Empty when `spans` is empty.
 */
export function serializeResourceSpansItems(spans: ReadableSpan[]): Uint8Array {
  if (spans.length === 0) return new Uint8Array(0);
  const body = serializeRequest(spans);
  if (startsWith(body, REQUEST_PREFIX)) {
    return body.subarray(REQUEST_PREFIX.length, body.length - REQUEST_SUFFIX.length);
  }
  // A serializer that orders keys differently: fall back to re-encoding.
  const parsed = JSON.parse(new TextDecoder().decode(body)) as { resourceSpans: unknown[] };
  return encoder.encode(parsed.resourceSpans.map((r) => JSON.stringify(r)).join(','));
}

import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * Resolves once the async attributes of every resource in `spans` have
 * settled, or returns undefined when none is pending (the usual case, and no
 * promise is made). A resource detected with async attributes (NodeSDK's
 * host detector, for one) logs an error on every read of `attributes` until
 * someone awaits them, so exporters that serialize wait first, as the SDK's
 * BatchSpanProcessor and SimpleSpanProcessor do.
 */
export function waitForResources(spans: readonly ReadableSpan[]): Promise<void> | undefined {
  let waits: Promise<void>[] | undefined;
  let last: unknown;
  for (const span of spans) {
    const resource = span.resource;
    // Spans of one batch nearly always share one resource object.
    if (resource === last) continue;
    last = resource;
    if (resource?.asyncAttributesPending && resource.waitForAsyncAttributes) {
      waits ??= [];
      waits.push(resource.waitForAsyncAttributes());
    }
  }
  if (waits === undefined) return undefined;
  return Promise.all(waits).then(
    () => {},
    () => {},
  );
}

import {
  type Context,
  createContextKey,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';

/** The header that carries the services a request went through, oldest first. */
export const BREADCRUMBS_HEADER = 'flight-recorder-services';
/** The most service names a request carries; the oldest go first. */
export const MAX_BREADCRUMBS = 16;
/** The longest service name carried; a longer one is left out. */
const MAX_NAME = 128;

const BREADCRUMBS = createContextKey('otel-flight-recorder breadcrumbs');

/** The services upstream of this one for the request in `context`, oldest first. */
export function breadcrumbsOf(context: Context): readonly string[] | undefined {
  return context.getValue(BREADCRUMBS) as readonly string[] | undefined;
}

/** The names in a header value: comma-separated, each URI-encoded; bad ones are left out. */
export function parseBreadcrumbs(text: string): string[] {
  const names: string[] = [];
  for (const part of text.split(',', MAX_BREADCRUMBS * 2)) {
    const raw = part.trim();
    if (raw === '' || raw.length > MAX_NAME * 3) continue;
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      continue;
    }
    if (name.length > MAX_NAME || names.includes(name)) continue;
    names.push(name);
  }
  return names.slice(-MAX_BREADCRUMBS);
}

/** What {@link FlightRecorderPropagator} needs. */
export interface FlightRecorderPropagatorOptions {
  /**
   * This service's name, added to the breadcrumbs of the requests it makes.
   * The default is the calling span's `service.name`, else
   * `OTEL_SERVICE_NAME`.
   */
  serviceName?: string;
}

/**
 * Breadcrumbs for coordination's `targets: 'breadcrumbs'`: a propagator that
 * adds, to each request a service makes, a `flight-recorder-services` header
 * naming the services the request went through (at most 16), and reads it
 * on the way in. Add it beside the W3C propagators, for example
 * `new CompositePropagator({ propagators: [new W3CTraceContextPropagator(),
 * new W3CBaggagePropagator(), new FlightRecorderPropagator()] })`. It never
 * throws: a malformed header is read as what it holds of valid names.
 */
export class FlightRecorderPropagator implements TextMapPropagator {
  private readonly _name: string | undefined;

  constructor(options: FlightRecorderPropagatorOptions = {}) {
    this._name = options.serviceName;
  }

  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const self = this._self(context);
    const upstream = breadcrumbsOf(context) ?? [];
    const names = self === undefined || upstream.includes(self) ? upstream : [...upstream, self];
    if (names.length === 0) return;
    setter.set(
      carrier,
      BREADCRUMBS_HEADER,
      names.slice(-MAX_BREADCRUMBS).map(encodeURIComponent).join(','),
    );
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = getter.get(carrier, BREADCRUMBS_HEADER);
    const text = Array.isArray(raw) ? raw.join(',') : raw;
    if (typeof text !== 'string' || text === '') return context;
    const names = parseBreadcrumbs(text);
    return names.length === 0 ? context : context.setValue(BREADCRUMBS, names);
  }

  fields(): string[] {
    return [BREADCRUMBS_HEADER];
  }

  private _self(context: Context): string | undefined {
    if (this._name !== undefined) return this._name;
    const span = trace.getSpan(context) as { resource?: { attributes?: Record<string, unknown> } };
    const name = span?.resource?.attributes?.['service.name'];
    if (typeof name === 'string' && name !== '' && name.length <= MAX_NAME) return name;
    const env = process.env.OTEL_SERVICE_NAME;
    return env !== undefined && env !== '' ? env : undefined;
  }
}

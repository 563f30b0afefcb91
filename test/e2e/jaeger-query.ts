/** The parts of Jaeger's query API (`/api/...`, the one its UI uses) the test reads. */

export interface JaegerKeyValue {
  key: string;
  type: string;
  value: unknown;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: JaegerKeyValue[];
  logs: { timestamp: number; fields: JaegerKeyValue[] }[];
  processID: string;
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerKeyValue[] }>;
}

interface Envelope<T> {
  data: T | null;
  errors: { code: number; msg: string }[] | null;
}

const REQUEST_TIMEOUT_MS = 5_000;

/** Jaeger prints 128-bit ids without leading zeros when the high half is zero. */
export function normalizeId(id: string, length: number): string {
  return id.toLowerCase().padStart(length, '0');
}

export class JaegerQuery {
  constructor(private readonly _baseUrl: string) {}

  async services(): Promise<string[]> {
    return (await this._get<string[]>('/api/services')) ?? [];
  }

  /** Traces of `service`, optionally only those with a span carrying every tag in `tags`. */
  async findTraces(
    service: string,
    tags: Record<string, string> = {},
    limit = 100,
  ): Promise<JaegerTrace[]> {
    const query = new URLSearchParams({ service, limit: String(limit), lookback: '1h' });
    if (Object.keys(tags).length > 0) query.set('tags', JSON.stringify(tags));
    return (await this._get<JaegerTrace[]>(`/api/traces?${query}`)) ?? [];
  }

  /** One trace by id, or undefined when Jaeger has none. */
  async getTrace(traceId: string): Promise<JaegerTrace | undefined> {
    const traces = await this._get<JaegerTrace[]>(`/api/traces/${traceId}`);
    return traces?.[0];
  }

  private async _get<T>(path: string): Promise<T | undefined> {
    const response = await fetch(this._baseUrl + path, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}: ${text}`);
    const body = JSON.parse(text) as Envelope<T>;
    if (body.errors !== null && body.errors.length > 0) {
      throw new Error(`GET ${path}: ${JSON.stringify(body.errors)}`);
    }
    return body.data ?? undefined;
  }
}

/** The value of a span tag, or undefined. */
export function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

/** The id of the span's CHILD_OF parent, or undefined for a root. */
export function parentOf(span: JaegerSpan): string | undefined {
  const ref = span.references.find((r) => r.refType === 'CHILD_OF');
  return ref === undefined ? undefined : normalizeId(ref.spanID, 16);
}

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as it arrived. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A span of an OTLP/HTTP JSON request, its attributes and its resource's flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  flags?: number;
  status?: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  endTimeUnixNano?: string;
  /** When its request arrived, `Date.now()`. */
  receivedAt: number;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}

function flatten(attributes: { key: string; value: AnyValue }[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of attributes) {
    out[key] = value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
  }
  return out;
}

/**
 * An OTLP/HTTP receiver on a loopback port, as a collector would be. It keeps
 * every request as it arrived, decodes the spans of every JSON body, and
 * answers 200 `{}`, or `status` when a test sets it.
 */
export async function startOtlpReceiver() {
  const requests: ReceivedRequest[] = [];
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const receivedAt = Date.now();
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      // `/moved/<status>` redirects to /v1/traces.
      const moved = /^\/moved\/(3\d\d)$/.exec(req.url ?? '');
      if (moved !== null) {
        res.writeHead(Number(moved[1]), { location: '/v1/traces' });
        res.end();
        return;
      }
      if (String(req.headers['content-type']).startsWith('application/json')) {
        try {
          for (const rs of JSON.parse(body.toString('utf8')).resourceSpans ?? []) {
            const resource = flatten(rs.resource?.attributes);
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                spans.push({ ...s, attributes: flatten(s.attributes), resource, receivedAt });
              }
            }
          }
        } catch {
          // Kept in `requests` as it came; a test asserts on it there.
        }
      }
      const ok = receiver.status === 200;
      res.writeHead(receiver.status, { 'content-type': 'application/json' });
      res.end(ok ? '{}' : '{"message":"collector says no"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const receiver = {
    /** `http://127.0.0.1:<port>`, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
    base,
    /** The traces endpoint, as the exporter's `url` option takes it. */
    url: `${base}/v1/traces`,
    requests,
    spans,
    /** What every request is answered with. */
    status: 200,
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

/** A loopback port that was just free and is now closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

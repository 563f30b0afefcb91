import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { type DecodedLogsRequest, decodeLogsRequest } from './logs.js';
import { decodeRequest } from './span-arbitrary.js';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  /** The body as sent (gzip when the exporter compresses). */
  raw: Buffer;
  /** The ExportTraceServiceRequest, decoded with protobufjs from opentelemetry-proto. */
  decoded: { resourceSpans?: unknown[] };
}

/**
 * An OTLP/HTTP protobuf receiver on loopback. The first `failFirst`
 * requests get 503 with `Retry-After: 0`, so the SDK's transport retries
 * at once; later ones get 200 and are decoded.
 */
export async function startOtlpProtoReceiver(failFirst = 0) {
  const requests: ReceivedRequest[] = [];
  /** `/v1/logs` requests, decoded as ExportLogsServiceRequest (never failed). */
  const logs: { headers: IncomingHttpHeaders; decoded: DecodedLogsRequest }[] = [];
  let attempts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/logs') {
        const raw = Buffer.concat(chunks);
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        logs.push({ headers: req.headers, decoded: decodeLogsRequest(body) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        return;
      }
      attempts++;
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (attempts <= failFirst) {
        res.writeHead(503, { 'retry-after': '0' }).end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      requests.push({
        headers: req.headers,
        raw,
        decoded: decodeRequest(body) as ReceivedRequest['decoded'],
      });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    logs,
    attempts: () => attempts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

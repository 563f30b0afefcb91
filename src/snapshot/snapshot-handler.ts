import type { IncomingMessage, ServerResponse } from 'node:http';
import { diag } from '@opentelemetry/api';
import type { FlightRecorderSpanProcessor } from '../flight-recorder-span-processor.js';
import { snapshotFileName } from './snapshot-files.js';
import { SnapshotInProgressError, writeWindowSnapshot } from './snapshot-writer.js';

/**
 * A response that sends nothing for 15–30 s is given up, so a stalled client
 * cannot hold the one snapshot slot. The socket's idle timer is set to 15 s:
 * Node skips its first timeout when the socket's write queue moved since the
 * timer was armed, so a client that stops reading mid-download is cut after
 * at most twice that.
 */
const IDLE_TIMEOUT_MS = 15_000;

/** The request side the handler reads: node:http's, or a framework's that wraps it in `raw` (fastify). */
export type SnapshotRequest =
  Pick<IncomingMessage, 'method'> | { raw: Pick<IncomingMessage, 'method'> };

/** The response side the handler writes: node:http's (express too), or a framework's that wraps it in `raw` (fastify's reply). */
export type SnapshotResponse = ServerResponse | { raw: ServerResponse; hijack?: () => unknown };

/** A `(req, res)` request handler; its promise never rejects. */
export type SnapshotHandler = (req: SnapshotRequest, res: SnapshotResponse) => Promise<void>;

function isWrapped<T extends object>(value: object): value is { raw: T } {
  return 'raw' in value && typeof value.raw === 'object' && value.raw !== null;
}

/**
 * Returns a `(req, res)` handler that serves the recorder's current window as
 * a download: `GET` answers 200 with the OTLP/HTTP JSON body that
 * {@link FlightRecorderSpanProcessor.writeSnapshot} writes
 * (`Content-Type: application/json`, `Content-Disposition: attachment`).
 * Other methods get 405; a request while another snapshot is being written
 * gets 503 with `Retry-After: 1`.
 *
 * It works as a `node:http` request listener, as an express route handler,
 * and with fastify (pass `request` and `reply`; it hijacks the reply).
 * Nothing mounts it by default.
 *
 * WARNING: the snapshot holds span names and attributes, which may contain
 * user data. Guard the route (authentication, a token, or a server bound to
 * localhost) before exposing it.
 */
export function createSnapshotHandler(recorder: FlightRecorderSpanProcessor): SnapshotHandler {
  if (
    recorder === null ||
    typeof recorder !== 'object' ||
    typeof recorder._windowSpans !== 'function'
  ) {
    throw new TypeError(
      `Expected \`recorder\` to be a FlightRecorderSpanProcessor, got ${String(recorder)}`,
    );
  }
  let warned = false;

  async function serve(req: SnapshotRequest, res: SnapshotResponse): Promise<void> {
    const request = isWrapped<Pick<IncomingMessage, 'method'>>(req) ? req.raw : req;
    let response: ServerResponse;
    if (isWrapped<ServerResponse>(res)) {
      // fastify: take the raw response over so fastify does not answer as well.
      if ('hijack' in res && typeof res.hijack === 'function') res.hijack();
      response = res.raw;
    } else {
      response = res;
    }
    if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('Method Not Allowed: use GET\n');
      return;
    }
    response.setTimeout(IDLE_TIMEOUT_MS, () =>
      response.destroy(new Error('snapshot download stalled')),
    );
    try {
      await writeWindowSnapshot(recorder, response, { end: true }, (info) => {
        response.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Disposition': `attachment; filename="${snapshotFileName(info)}"`,
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
        });
      });
    } catch (error) {
      answerFailure(response, error);
    }
  }

  // The returned promise never rejects: frameworks differ in what they do with a rejection.
  return (req, res) => serve(req, res).catch(() => {});

  function answerFailure(response: ServerResponse, error: unknown): void {
    if (error instanceof SnapshotInProgressError && !response.headersSent) {
      response.writeHead(503, {
        'Retry-After': '1',
        'Content-Type': 'text/plain; charset=utf-8',
      });
      response.end('A snapshot is already being written; retry shortly.\n');
      return;
    }
    // A client that goes away mid-download is normal; anything else is worth one warning.
    if (!warned && !response.destroyed) {
      warned = true;
      diag.warn(`otel-flight-recorder: snapshot handler failed: ${String(error)}`);
    }
    if (!response.headersSent) {
      response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('The snapshot could not be written.\n');
    } else {
      // Half a body must not look like a whole one: cut the connection.
      response.destroy();
    }
  }
}

// A minimal OTLP/HTTP receiver on loopback, run in its own process so its CPU
// is not charged to the process under test. It counts requests, bytes and
// spans (one `"spanId":"` per span in OTLP JSON; the Span messages of an
// OTLP protobuf request) and answers every POST with an empty success.
import { createServer } from 'node:http';

const SPAN_KEY = Buffer.from('"spanId":"');

let requests = 0;
let bytes = 0;
let spans = 0;

function countSpans(body: Buffer): number {
  let n = 0;
  let at = body.indexOf(SPAN_KEY);
  while (at !== -1) {
    n++;
    at = body.indexOf(SPAN_KEY, at + SPAN_KEY.length);
  }
  return n;
}

/** Reads a varint at `at`; returns [value, next position]. */
function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[at++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, at];
    mul *= 128;
  }
}

/** Counts the length-delimited fields `field` of the message `b[from, to)`, calling `inner` on each. */
function fields(
  b: Buffer,
  from: number,
  to: number,
  field: number,
  inner: (s: number, e: number) => number,
): number {
  let n = 0;
  let at = from;
  while (at < to) {
    const [tag, p] = varint(b, at);
    at = p;
    const wt = tag & 7;
    if (wt === 0) at = varint(b, at)[1];
    else if (wt === 1) at += 8;
    else if (wt === 5) at += 4;
    else if (wt === 2) {
      const [len, q] = varint(b, at);
      if (tag >>> 3 === field) n += inner(q, q + len);
      at = q + len;
    } else break;
  }
  return n;
}

/** Spans of an OTLP protobuf ExportTraceServiceRequest: resource_spans(1) / scope_spans(2) / spans(2). */
function countProtoSpans(b: Buffer): number {
  return fields(b, 0, b.length, 1, (s, e) =>
    fields(b, s, e, 2, (s2, e2) => fields(b, s2, e2, 2, () => 1)),
  );
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    requests++;
    bytes += body.length;
    if (req.headers['content-type'] === 'application/x-protobuf') {
      spans += countProtoSpans(body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
      return;
    }
    spans += countSpans(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${port}/v1/traces` });
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', requests, bytes, spans });
  if (message.type === 'stop') server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));

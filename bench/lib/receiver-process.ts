// A minimal OTLP/HTTP receiver on loopback, run in its own process so its CPU
// is not charged to the process under test. It counts requests, bytes and
// spans (one `"spanId":"` per span in the JSON the exporter sends) and
// answers every POST with an empty success.
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

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    requests++;
    bytes += body.length;
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

import assert from 'node:assert/strict';
import { createServer, type RequestListener, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createSnapshotHandler, TRIGGER_ATTRIBUTE } from '../src/index.js';
import { attributesOf, spansOf } from './fixtures/otlp.js';
import { makeRecorder, recordTraces } from './fixtures/recorder.js';
import { SinkStream } from './fixtures/sink-stream.js';
import { runNode } from './helpers/process.js';

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('createSnapshotHandler', () => {
  test('GET serves the window as an OTLP JSON download, leaving the buffer as it was', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 3);
    const url = await listen(createSnapshotHandler(recorder));

    const response = await fetch(`${url}/debug/flight-recorder`);

    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const disposition = response.headers.get('content-disposition') ?? '';
    const match =
      /^attachment; filename="(flight-recorder-[^"]+-snapshot-([0-9a-f]{16})\.json)"$/.exec(
        disposition,
      );
    assert.ok(match, disposition);
    const spans = spansOf(await response.json());
    assert.equal(spans.length, 9);
    for (const span of spans) {
      const attributes = attributesOf(span);
      assert.equal(attributes[TRIGGER_ATTRIBUTE], 'snapshot');
      assert.equal(attributes['flight_recorder.snapshot.id'], match[2]);
    }
    assert.equal(recorder.stats().bufferedSpans, 9);
    await recorder.shutdown();
  });

  test('other methods get 405 with Allow: GET', async () => {
    const { recorder } = makeRecorder();
    const url = await listen(createSnapshotHandler(recorder));
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const response = await fetch(url, { method });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET');
      await response.arrayBuffer();
    }
    await recorder.shutdown();
  });

  test('a request while a snapshot is being written gets 503 with Retry-After', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 300, 2);
    const url = await listen(createSnapshotHandler(recorder));
    const slow = recorder.writeSnapshot(new SinkStream({ highWaterMark: 256, delayMs: 1 }));

    const response = await fetch(url);

    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '1');
    await response.arrayBuffer();
    await slow;
    assert.equal((await fetch(url)).status, 200);
    await recorder.shutdown();
  });

  test('a client that disconnects mid-download harms neither the server nor the recorder', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 1500, 2);
    const url = await listen(createSnapshotHandler(recorder));

    await new Promise<void>((resolve) => {
      const req = request(url, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    });

    // The slot is released once the server sees the socket close.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const response = await fetch(url);
      status = response.status;
      await response.arrayBuffer();
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 200);
    assert.equal(recorder.stats().bufferedSpans, 3000);
    await recorder.shutdown();
  });

  test('a download to a fast client in another process gives the event loop a turn between slices', async () => {
    const { recorder, tracer } = makeRecorder({ maxBytes: 64 << 20 });
    // 8,000 spans: about 16 slices of the window, 10 MB of JSON.
    recordTraces(tracer, 4_000, 2);
    const handler = createSnapshotHandler(recorder);
    let writing = false;
    let turns = 0;
    const url = await listen((req, res) => {
      writing = true;
      res.on('close', () => (writing = false));
      handler(req, res);
    });
    // What another request, a timer or I/O would need: a turn of the event loop.
    let counting = true;
    const spin = (): void => {
      if (writing) turns++;
      if (counting) setImmediate(spin);
    };
    spin();
    const client = `require('node:http').get(process.argv[1], (r) => { r.resume(); r.on('end', () => process.exit(r.statusCode === 200 ? 0 : 1)); });`;
    const ran = await runNode(['-e', client, url], { timeoutMs: 30_000 });
    counting = false;
    assert.equal(ran.code, 0, ran.stderr);
    // Before, loopback's 'drain' (from process.nextTick) chained every slice: 0 turns.
    assert.ok(turns >= 8, `the loop turned ${turns} times during the download`);
    await recorder.shutdown();
  });

  test('works with a fastify-style reply that wraps the raw response', async () => {
    const { recorder, tracer } = makeRecorder();
    recordTraces(tracer, 1);
    const handler = createSnapshotHandler(recorder);
    let hijacked = false;
    const url = await listen((req, res) => {
      void handler(
        { raw: req },
        {
          raw: res,
          hijack: () => {
            hijacked = true;
          },
        },
      );
    });
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(spansOf(await response.json()).length, 3);
    assert.equal(hijacked, true);
    await recorder.shutdown();
  });

  test('refuses something that is not a recorder', () => {
    assert.throws(
      () => createSnapshotHandler({} as never),
      /Expected `recorder` to be a FlightRecorderSpanProcessor/,
    );
  });
});

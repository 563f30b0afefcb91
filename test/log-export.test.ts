import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LogExportQueue, type LogRequestExporter } from '../src/logs/log-export.js';
import type { LogBatch } from '../src/logs/log-request.js';
import { ResourceScopeTable } from '../src/record/resource-scope-table.js';
import { collectGarbage } from './helpers/gc.js';
import { runNode } from './helpers/process.js';

/** A queue over `exporter` that gives up on an export after 20 ms (or as `options` say), and its counters. */
function queueOf(
  exporter: LogRequestExporter,
  table: ResourceScopeTable,
  options: { batchSize?: number; batchBytes?: number; timeoutMs?: number } = {},
) {
  const counters = { logsExported: 0, logsDropped: 0, logExportFailures: 0 };
  const queue = new LogExportQueue(
    exporter,
    table,
    { maxBytes: 4 << 20, batchSize: 512, timeoutMs: 20, ...options },
    counters,
  );
  return { queue, counters };
}

/**
 * A batch of `count` records (a LogRecord with an empty body each) of the
 * resource and scope `pair`, in a buffer of `bytes`.
 */
function batchOf(pair: number, count: number, bytes = 4 * count): LogBatch {
  const buf = new Uint8Array(bytes);
  const off = new Uint32Array(count);
  for (let k = 0; k < count; k++) {
    buf.set([0x2a, 0x02, 0x0a, 0x00], 4 * k);
    off[k] = 4 * k;
  }
  return {
    buf,
    off,
    len: new Uint32Array(count).fill(4),
    pair: new Uint16Array(count).fill(pair),
    count,
    marks: undefined,
  };
}

/** An exporter that accepts every request at once, and the record counts it was sent. */
function recording(): { sent: number[]; exporter: LogRequestExporter } {
  const sent: number[] = [];
  const exporter: LogRequestExporter = {
    export: (request, done) => {
      sent.push(request.logs);
      done({ code: ExportResultCode.SUCCESS });
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  return { sent, exporter };
}

/**
 * Queues one record of `pair` in a large batch buffer and waits until the
 * queue gives up on its export; returns a weak reference to that buffer.
 */
async function enqueueGivenUp(
  queue: LogExportQueue,
  counters: { logsExported: number; logsDropped: number; logExportFailures: number },
  pair: number,
): Promise<WeakRef<Uint8Array>> {
  const ref = (() => {
    const batch = batchOf(pair, 1, 1 << 20);
    queue.enqueue(batch);
    return new WeakRef(batch.buf);
  })();
  for (let i = 0; i < 200 && counters.logsDropped === 0; i++) await sleep(10);
  assert.deepEqual(counters, { logsExported: 0, logsDropped: 1, logExportFailures: 1 });
  return ref;
}

// An OTLP transport keeps the callback of a request until its own timeout
// (10 s by default), long after the queue gave up on it at timeoutMs: what
// that callback reaches stays alive as long.
test('an export the queue gave up on keeps none of its batch alive, while the exporter still holds its callback', async () => {
  const held: ((result: ExportResult) => void)[] = [];
  const exporter: LogRequestExporter = {
    export: (_request, done) => {
      held.push(done);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const table = new ResourceScopeTable();
  const pair = table.idOf(resourceFromAttributes({ 'service.name': 'logs' }), { name: 'test' });
  const { queue, counters } = queueOf(exporter, table);
  const ref = await enqueueGivenUp(queue, counters, pair);
  assert.equal(held.length, 1, 'the exporter still holds the callback');
  await collectGarbage();
  assert.equal(ref.deref(), undefined, 'the batch is unreachable');
  await queue.whenIdle();
});

test('an export given up on while its resource still detects attributes is never sent, and the next export goes alone', async () => {
  const { sent, exporter } = recording();
  let detected: () => void = () => {};
  // A resource still detecting attributes, as NodeSDK's is at start-up.
  const detecting = {
    attributes: { 'service.name': 'slow' },
    asyncAttributesPending: true,
    waitForAsyncAttributes: () => new Promise<void>((resolve) => (detected = resolve)),
    getRawAttributes: () => [['service.name', 'slow']],
    merge: () => detecting,
  } as unknown as Parameters<ResourceScopeTable['idOf']>[0];
  const table = new ResourceScopeTable();
  const slow = table.idOf(detecting, { name: 'test' });
  const ready = table.idOf(resourceFromAttributes({ 'service.name': 'ready' }), { name: 'test' });
  const { queue, counters } = queueOf(exporter, table);
  queue.enqueue(batchOf(slow, 2));
  queue.enqueue(batchOf(ready, 3));
  for (let i = 0; i < 200 && counters.logsExported === 0; i++) await sleep(10);
  assert.deepEqual(sent, [3], 'the second batch went once the first was given up on');
  // The resource is done detecting: the export given up on stays given up on.
  detected();
  await sleep(20);
  await queue.whenIdle();
  assert.deepEqual(sent, [3]);
  assert.deepEqual(counters, { logsExported: 3, logsDropped: 2, logExportFailures: 1 });
});

test('an export given up on while its resource never finishes detecting keeps none of its batch alive', async () => {
  const exporter: LogRequestExporter = {
    export: (_request, done) => done({ code: ExportResultCode.SUCCESS }),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  // Its promise never settles: whatever waits on it stays reachable from it.
  const never = new Promise<void>(() => {});
  const detecting = {
    attributes: { 'service.name': 'stuck' },
    asyncAttributesPending: true,
    waitForAsyncAttributes: () => never,
    getRawAttributes: () => [['service.name', 'stuck']],
    merge: () => detecting,
  } as unknown as Parameters<ResourceScopeTable['idOf']>[0];
  const table = new ResourceScopeTable();
  const stuck = table.idOf(detecting, { name: 'test' });
  const { queue, counters } = queueOf(exporter, table);
  const ref = await enqueueGivenUp(queue, counters, stuck);
  await collectGarbage();
  assert.equal(ref.deref(), undefined, 'the batch is unreachable');
});

test('whenIdle() starts the export at once: a process shutting down does not exit on the unref’d timer first', async () => {
  const { sent, exporter } = recording();
  const table = new ResourceScopeTable();
  const pair = table.idOf(resourceFromAttributes({ 'service.name': 'logs' }), { name: 'test' });
  const { queue } = queueOf(exporter, table);
  queue.enqueue(batchOf(pair, 2));
  const idle = queue.whenIdle();
  // Sent before any timer could fire: the unref'd one would not keep a
  // shutting-down process alive.
  assert.deepEqual(sent, [2]);
  await idle;
});

test('a callback without a result counts the batch as failed', async () => {
  const exporter: LogRequestExporter = {
    export: (_request, done) => setTimeout(() => (done as () => void)(), 1),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const table = new ResourceScopeTable();
  const pair = table.idOf(resourceFromAttributes({ 'service.name': 'logs' }), { name: 'test' });
  const { queue, counters } = queueOf(exporter, table);
  queue.enqueue(batchOf(pair, 2));
  await queue.whenIdle();
  assert.deepEqual(counters, { logsExported: 0, logsDropped: 2, logExportFailures: 1 });
});

test('a record too large for the smallest log ring allowed is sent at once, counted, and onEmit returns', async () => {
  // In a child process: a loop that never ends fails by the time limit.
  const file = fileURLToPath(new URL('./helpers/tiny-log-ring.ts', import.meta.url));
  const ran = await runNode(['--import', 'tsx', file], { timeoutMs: 30_000 });
  assert.equal(ran.code, 0, ran.stderr);
  const sizes = JSON.parse(ran.stdout) as Record<string, [number, number, number, number]>;
  for (const [size, [buffered, oversize, sent, dropped]] of Object.entries(sizes)) {
    // Held in the ring, or sent at once as one too large for it, or, larger
    // than what may wait for export (the ring's size again), dropped: counted.
    assert.equal(buffered + sent + dropped, 1, `body of ${size}: ${ran.stdout}`);
    assert.equal(oversize, sent + dropped, `body of ${size}: ${ran.stdout}`);
  }
  assert.deepEqual(sizes['1'], [1, 0, 0, 0]);
  assert.deepEqual(sizes['500'], [0, 1, 1, 0]);
  assert.deepEqual(sizes['5000'], [0, 1, 0, 1]);
});

test('a logs request is at most batchBytes on the wire, headers and marks included; a larger record goes alone', async () => {
  const table = new ResourceScopeTable();
  const pair = table.idOf(resourceFromAttributes({ 'service.name': 'bytes' }), { name: 'bytes' });
  const sizes: number[] = [];
  const counts: number[] = [];
  const exporter: LogRequestExporter = {
    export: (request, done) => {
      sizes.push(request.body.length);
      counts.push(request.logs);
      done({ code: ExportResultCode.SUCCESS });
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const cap = 120;
  const { queue, counters } = queueOf(exporter, table, { batchBytes: cap, timeoutMs: 1_000 });
  // 4 bytes a record and marks of an empty string attribute (`32 00`, 3 of them).
  queue.enqueue({
    ...batchOf(pair, 30),
    marks: new Uint8Array([0x32, 0x00, 0x32, 0x00, 0x32, 0x00]),
  });
  // One 200-byte record (an empty body field, padded) between two of 4 bytes.
  const big = batchOf(pair, 3, 208);
  big.buf.set([0x2a, 0xc5, 0x01], 4);
  big.len[1] = 200;
  big.off[2] = 204;
  big.buf.set([0x2a, 0x02, 0x0a, 0x00], 204);
  queue.enqueue(big);
  await queue.whenIdle();
  assert.equal(counters.logsExported, 33);
  const alone = counts.findIndex((n, k) => n === 1 && sizes[k]! > cap);
  assert.ok(alone >= 0, 'the large record went alone');
  for (let k = 0; k < sizes.length; k++) {
    if (k !== alone) assert.ok(sizes[k]! <= cap, `request ${k}: ${sizes[k]} bytes`);
  }
  // Near the bound: within a record (12 bytes) and the headers' framing allowance.
  assert.ok(Math.max(...sizes.filter((n) => n <= cap)) > cap - 24, `${sizes}`);
});

test('whenIdle keeps the process alive until the last of several requests is sent', async () => {
  // Before, only the first request after whenIdle() was sure to go: the next
  // waited on an unref'd timer, so a process awaiting shutdown could exit
  // first (the test runner then reports the promise still pending).
  const table = new ResourceScopeTable();
  const pair = table.idOf(resourceFromAttributes({}), { name: 'several' });
  const sent: number[] = [];
  const exporter: LogRequestExporter = {
    // Answers on a later turn, as a transport does once the response is in.
    export: (request, done) => {
      sent.push(request.logs);
      setImmediate(() => done({ code: ExportResultCode.SUCCESS }));
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const { queue, counters } = queueOf(exporter, table, { batchSize: 2, timeoutMs: 1_000 });
  queue.enqueue(batchOf(pair, 5));
  await queue.whenIdle();
  assert.deepEqual(sent, [2, 2, 1]);
  assert.equal(counters.logsExported, 5);
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { FlightRecorderSpanProcessor } from '../src/flight-recorder-span-processor.js';
import {
  REMOTE_TRIGGER_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/marks.js';
import type { CoordinationOptions } from '../src/coordination/options.js';
import {
  freePort,
  type RedisServer,
  skipWithoutRedis,
  startRedis,
} from './helpers/redis-server.js';
import { makeLogging } from './helpers/logs.js';
import { runNode } from './helpers/process.js';
import { tempDir } from './helpers/temp-dir.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag, makeTracing, remoteParent, traceIdOf } from './helpers/tracing.js';

/** Waits until `check` holds, polling every 20 ms, at most `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function service(name: string, coordination: CoordinationOptions, extra: object = {}) {
  const exporter = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    latencyThresholdMs: 100,
    flushScope: 'trace',
    // The tests read each service's exports as they happen: no 5 s wait for
    // local flushes to share a call (remote flushes never wait).
    exportDelayMs: 0,
    coordination,
    ...extra,
  });
  return { exporter, recorder, ...makeTracing(recorder, undefined, name) };
}

type Service = ReturnType<typeof service>;

/** A root of `traceId` (a child of a remote parent) with one child, ended after `ms`. */
function serve(s: Service, traceId: string, ms: number, name = 'work') {
  const t = Date.now() - ms;
  const root = s.start(name, t, remoteParent(traceId));
  s.start(`${name}-child`, t + 1, root).end(t + 2);
  root.end(t + ms);
  return root;
}

const ready = (...services: Service[]) =>
  until(() => services.every((s) => s.recorder['_coordination']?.ready === true), 'Redis link');

let nextTrace = 1;
const newTraceId = () => (nextTrace++).toString(16).padStart(32, 'a');

describe('coordination over a real Redis', { skip: skipWithoutRedis() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('a trigger in A flushes B’s spans of that trace, with the same snapshot id and trigger, marked remote', async () => {
    const channel = 'ch-basic';
    const a = service('svc-a', { redis: redis.url, channel });
    const b = service('svc-b', { redis: redis.url, channel });
    try {
      await ready(a, b);
      const traceId = newTraceId();
      const other = newTraceId();
      // B served its part of the request quickly (no trigger there), leaving work behind.
      const bRoot = serve(b, traceId, 5, 'b');
      const bLogs = makeLogging(b.recorder);
      bLogs.logger.emit({ body: 'b did its part', context: trace.setSpan(ROOT_CONTEXT, bRoot) });
      const late = b.start('late', Date.now() - 3, bRoot);
      serve(b, other, 5, 'b-other');
      serve(a, traceId, 500, 'a'); // A's root is slow: latency.
      await until(() => b.exporter.spans.length >= 2, 'B to export');
      await until(() => a.recorder.stats().remoteTriggersPublished === 1, 'A to publish');
      const aMark = a.exporter.spans[0]!.attributes;
      assert.equal(aMark[TRIGGER_ATTRIBUTE], 'latency');
      assert.equal(aMark[REMOTE_TRIGGER_ATTRIBUTE], undefined);
      for (const span of b.exporter.spans) {
        assert.equal(traceIdOf(span), traceId, 'only the kept trace leaves B');
        assert.equal(span.attributes[SNAPSHOT_ID_ATTRIBUTE], aMark[SNAPSHOT_ID_ATTRIBUTE]);
        assert.equal(span.attributes[TRIGGER_ATTRIBUTE], 'latency');
        assert.equal(span.attributes[REMOTE_TRIGGER_ATTRIBUTE], true);
      }
      // B's log record of the trace leaves with its spans, marked the same way.
      await until(() => bLogs.exporter.records.length === 1, 'B to export its log record');
      const marks = Object.fromEntries(
        (bLogs.exporter.records[0]!.attributes ?? []).map((a) => [a.key, a.value]),
      );
      assert.deepEqual(marks[SNAPSHOT_ID_ATTRIBUTE], { stringValue: aMark[SNAPSHOT_ID_ATTRIBUTE] });
      assert.deepEqual(marks[TRIGGER_ATTRIBUTE], { stringValue: 'latency' });
      assert.deepEqual(marks[REMOTE_TRIGGER_ATTRIBUTE], { boolValue: true });
      const bs = b.recorder.stats();
      assert.equal(bs.remoteTriggersReceived, 1);
      assert.equal(bs.remoteFlushes, 1);
      assert.equal(bs.flushes, 0, 'a remote flush is not a trigger of B');
      assert.deepEqual(bs.triggers, {});
      assert.equal(bs.bufferedSpans, 2, 'B keeps its other trace');
      // A hears its own message and ignores it.
      await until(() => a.recorder.stats().remoteTriggersIgnored === 1, 'A to ignore its own');
      assert.equal(a.recorder.stats().remoteFlushes, 0);

      // A late span of the trace in B follows the remote flush.
      late.end();
      await until(() => b.exporter.spans.length === 3, 'the late span');
      const lateSpan = b.exporter.spans[2]!;
      assert.equal(lateSpan.attributes[SNAPSHOT_ID_ATTRIBUTE], aMark[SNAPSHOT_ID_ATTRIBUTE]);
      assert.equal(lateSpan.attributes[REMOTE_TRIGGER_ATTRIBUTE], true);
    } finally {
      await Promise.all([a.recorder.shutdown(), b.recorder.shutdown()]);
    }
  });

  test('each message is acted on once; a service holding nothing does nothing; malformed and foreign messages are ignored and counted', async () => {
    const channel = 'ch-dedupe';
    const b = service('svc-b', { redis: redis.url, channel });
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    try {
      await ready(b);
      const held = newTraceId();
      serve(b, held, 5);
      const message = (trace: string) =>
        JSON.stringify({
          v: 1,
          trace,
          snapshot: '0123456789abcdef',
          trigger: 'error',
          service: 'svc-x',
          instance: 'other-process',
        });
      await client.publish(channel, message(held));
      await client.publish(channel, message(held));
      await client.publish(channel, message(newTraceId())); // held nowhere here
      for (const junk of [
        'not json',
        '{"v":2,"trace":"x"}',
        JSON.stringify({
          v: 1,
          trace: 'zz',
          snapshot: 's',
          trigger: 't',
          service: 's',
          instance: 'i',
        }),
        'x'.repeat(5000),
        '[]',
      ]) {
        await client.publish(channel, junk);
      }
      await until(() => b.recorder.stats().remoteTriggersReceived === 8, 'eight messages');
      const s = b.recorder.stats();
      assert.equal(s.remoteFlushes, 1);
      assert.equal(s.remoteTriggersIgnored, 1 + 5, 'the repeat and the five malformed');
      assert.equal(s.remoteTriggersRefused, 0);
      assert.equal(b.exporter.spans.length > 0, true);
      await until(() => b.exporter.spans.length === 2, 'the flush');
      assert.ok(b.exporter.spans.every((span) => span.attributes[TRIGGER_ATTRIBUTE] === 'error'));
    } finally {
      await client.close();
      await b.recorder.shutdown();
    }
  });

  test('the receiving side is bounded by remoteFlushesPerSecond; the rest are refused and counted', async () => {
    const channel = 'ch-flood';
    const b = service('svc-b', { redis: redis.url, channel, remoteFlushesPerSecond: 3 });
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    try {
      await ready(b);
      const traces = Array.from({ length: 40 }, () => newTraceId());
      for (const t of traces) serve(b, t, 5);
      const started = Date.now();
      await Promise.all(
        traces.map((t) =>
          client.publish(
            channel,
            JSON.stringify({
              v: 1,
              trace: t,
              snapshot: 'ffffffffffffffff',
              trigger: 'latency',
              service: 'x',
              instance: 'y',
            }),
          ),
        ),
      );
      await until(() => b.recorder.stats().remoteTriggersReceived === 40, 'the flood');
      const elapsedS = (Date.now() - started) / 1000;
      const s = b.recorder.stats();
      // A bucket of 3, refilled at 3 per second while the flood lasted.
      assert.ok(
        s.remoteFlushes >= 3 && s.remoteFlushes <= 3 + Math.ceil(elapsedS * 3),
        `${s.remoteFlushes} in ${elapsedS} s`,
      );
      assert.equal(s.remoteFlushes + s.remoteTriggersRefused, 40);
    } finally {
      await client.close();
      await b.recorder.shutdown();
    }
  });

  test('a node-redis client passed in is used to publish and duplicated to subscribe, and left open', async () => {
    const channel = 'ch-client';
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    const a = service('svc-a', { redis: client, channel });
    const b = service('svc-b', { redis: redis.url, channel });
    try {
      await ready(a, b);
      const traceId = newTraceId();
      serve(b, traceId, 5);
      serve(a, traceId, 500);
      await until(() => b.recorder.stats().remoteFlushes === 1, 'B’s remote flush');
      assert.equal(a.recorder.stats().remoteTriggersPublished, 1);
      await a.recorder.shutdown();
      assert.equal(client.isReady, true, 'the caller’s client stays open');
      assert.equal(await client.ping(), 'PONG');
    } finally {
      await Promise.all([a.recorder.shutdown(), b.recorder.shutdown()]);
      await client.close();
    }
  });

  test('Redis killed mid-run: local flushing goes on, one warning an outage, and the link comes back when Redis does', async () => {
    const port = await freePort();
    let own = await startRedis({ port });
    const diagCapture = captureDiag();
    const a = service('svc-a', { redis: own.url, channel: 'ch-kill' });
    try {
      await ready(a);
      await own.kill();
      for (let i = 0; i < 3; i++) serve(a, newTraceId(), 500);
      await until(() => a.exporter.spans.length === 6, 'local flushes');
      await until(() => a.recorder.stats().remotePublishFailures >= 1, 'a failed publish');
      const warnings = diagCapture.messages.filter((m) => m.level === 'warn');
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!.message, /cannot reach Redis at redis:\/\/127\.0\.0\.1/);
      own = await startRedis({ port });
      await until(() => a.recorder['_coordination']?.ready === true, 'the reconnect', 40_000);
      serve(a, newTraceId(), 500);
      await until(
        () => a.recorder.stats().remoteTriggersPublished === 1,
        'a publish after reconnect',
      );
      assert.equal(diagCapture.messages.filter((m) => m.level === 'warn').length, 1);
      // A later outage is told too: one warning for each, not one for the process.
      await own.kill();
      await until(
        () => diagCapture.messages.filter((m) => m.level === 'warn').length === 2,
        'a warning for the second outage',
      );
      own = await startRedis({ port });
      await until(
        () => a.recorder['_coordination']?.ready === true,
        'the second reconnect',
        40_000,
      );
      assert.equal(diagCapture.messages.filter((m) => m.level === 'warn').length, 2);
    } finally {
      diagCapture.restore();
      await a.recorder.shutdown();
      await own.stop();
    }
  });

  test('Redis down at start: local flushing works, one warning, nothing thrown', async () => {
    const port = await freePort();
    const diagCapture = captureDiag();
    const a = service('svc-a', { redis: `redis://127.0.0.1:${port}`, channel: 'ch-down' });
    try {
      serve(a, newTraceId(), 500);
      await until(() => a.exporter.spans.length === 2, 'the local flush');
      await until(() => diagCapture.messages.some((m) => m.level === 'warn'), 'the warning');
      await until(() => a.recorder.stats().remotePublishFailures === 1, 'the failed publish');
      assert.equal(diagCapture.messages.filter((m) => m.level === 'warn').length, 1);
    } finally {
      diagCapture.restore();
      await a.recorder.shutdown();
    }
  });

  test('an ACL user and password in the URL work, and never appear in a log line', async () => {
    const secret = 'pa55-w0rd-XYZ';
    const own = await startRedis({
      extra: [
        '--user',
        'alice',
        'on',
        `>${secret}`,
        '~*',
        '&*',
        '+@all',
        '--user',
        'default',
        'off',
      ],
    });
    const diagCapture = captureDiag();
    const good = `redis://alice:${secret}@127.0.0.1:${own.port}`;
    const bad = `redis://alice:wrong-${secret}@127.0.0.1:${own.port}`;
    const a = service('svc-a', { redis: good, channel: 'ch-acl' });
    const b = service('svc-b', { redis: good, channel: 'ch-acl' });
    const c = service('svc-c', { redis: bad, channel: 'ch-acl' });
    try {
      await ready(a, b);
      const traceId = newTraceId();
      serve(b, traceId, 5);
      serve(a, traceId, 500);
      await until(() => b.recorder.stats().remoteFlushes === 1, 'B’s remote flush');
      await until(() => diagCapture.messages.some((m) => m.level === 'warn'), 'C’s warning');
      const all = diagCapture.messages.map((m) => m.message).join('\n');
      assert.ok(!all.includes(secret), all);
      assert.match(all, /redis:\/\/\*\*\*@127\.0\.0\.1/);
      // A bad URL in code: the TypeError shows it redacted too.
      assert.throws(
        () =>
          new FlightRecorderSpanProcessor({
            exporter: new TestExporter(),
            coordination: { redis: `http://alice:${secret}@h` },
          }),
        (e: Error) =>
          e instanceof TypeError &&
          !e.message.includes(secret) &&
          e.message.includes('`coordination.redis`') &&
          e.message.includes('http://***@h'),
      );
    } finally {
      diagCapture.restore();
      await Promise.all([a.recorder.shutdown(), b.recorder.shutdown(), c.recorder.shutdown()]);
      await own.stop();
    }
  });

  test('rediss:// (TLS) with an ACL user and password, from FLIGHT_RECORDER_REDIS_URL, works and is never logged', async () => {
    const dir = tempDir('fr-tls-');
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    // A self-signed certificate for 127.0.0.1, trusted by the child through NODE_EXTRA_CA_CERTS.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const secret = 'tls-s3cret-QQ';
    const own = await startRedis({
      tls: true,
      extra: [
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
        '--user',
        'bob',
        'on',
        `>${secret}`,
        '~*',
        '&*',
        '+@all',
        '--user',
        'default',
        'off',
      ],
    });
    try {
      const url = `rediss://bob:${secret}@127.0.0.1:${own.port}`;
      const fixture = fileURLToPath(new URL('./fixtures/coordination-tls.ts', import.meta.url));
      const ran = await runNode(['--import', 'tsx', fixture], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, FLIGHT_RECORDER_REDIS_URL: url },
        timeoutMs: 60_000,
      });
      assert.equal(ran.code, 0, ran.stderr);
      const result = JSON.parse(ran.stdout.trim().split('\n').at(-1)!);
      assert.deepEqual(
        { ...result, logs: undefined },
        { connected: true, flushed: true, stats: 1, logs: undefined },
        ran.stdout,
      );
      assert.ok(!ran.stdout.includes(secret) && !ran.stderr.includes(secret));
      // Plain redis:// to a TLS port fails: one warning, redacted, and local flushing is unaffected.
      const plain = await runNode(['--import', 'tsx', fixture], {
        env: {
          ...process.env,
          FIXTURE_CONNECT_MS: '3000',
          FLIGHT_RECORDER_REDIS_URL: `redis://bob:${secret}@127.0.0.1:${own.port}`,
        },
        timeoutMs: 60_000,
      });
      const failed = JSON.parse(plain.stdout.trim().split('\n').at(-1)!);
      assert.equal(failed.connected, false);
      assert.ok(!plain.stdout.includes(secret) && !plain.stderr.includes(secret), plain.stdout);
      assert.ok(
        failed.logs.some((l: string) => l.includes('redis://***@127.0.0.1')),
        plain.stdout,
      );
    } finally {
      await own.stop();
    }
  });
});

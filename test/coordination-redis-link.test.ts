import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { context, DiagLogLevel, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { type RedisClientLike, RedisLink } from '../src/coordination/redis-link.js';
import { type RedisServer, skipWithoutRedis, startRedis } from './helpers/redis-server.js';
import { runNode } from './helpers/process.js';
import { captureDiag } from './helpers/tracing.js';

/** Waits until `check` holds, polling every 20 ms, at most `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The link's private state the tests look at. */
interface Inside {
  _pub: unknown;
  _sub: unknown;
  _generation: number;
  _timer: unknown;
  _attemptTimer: unknown;
  _keepAlive: unknown;
}
const inside = (link: RedisLink) => link as unknown as Inside;

/** A TCP peer that accepts and never answers: a frozen Redis, a proxy whose backend is gone. */
async function silentPeer(): Promise<{ url: string; connections: () => number; close(): void }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    connections: () => count,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('RedisLink: a peer that accepts and never answers', () => {
  test('each attempt ends after the connect timeout and is retried with backoff; close() stops it', async () => {
    const peer = await silentPeer();
    const diagCapture = captureDiag();
    const link = new RedisLink({
      redis: peer.url,
      channels: ['ch'],
      onMessage: () => {},
      connectTimeoutMs: 200,
    });
    try {
      link.start();
      await until(() => peer.connections() >= 3, 'three connection attempts', 5_000);
      assert.equal(link.ready, false);
      const warnings = diagCapture.messages.filter((m) => m.level === 'warn');
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!.message, /no answer from Redis within 200 ms/);
      link.close();
      assert.equal(inside(link)._attemptTimer, undefined, 'the attempt timer is cleared');
      assert.equal(inside(link)._timer, undefined, 'the retry timer is cleared');
      const seen = peer.connections();
      await sleep(600);
      assert.equal(peer.connections(), seen, 'no attempt after close()');
    } finally {
      link.close();
      diagCapture.restore();
      peer.close();
    }
  });

  test('the attempt’s timer never keeps the process alive', async () => {
    const peer = await silentPeer();
    const module = fileURLToPath(new URL('../src/coordination/redis-link.ts', import.meta.url));
    const script = `
      import { RedisLink } from ${JSON.stringify(module)};
      const stuck = new RedisLink({ redis: ${JSON.stringify(peer.url)}, channels: ['exit'], onMessage() {} });
      stuck.start();
      const hold = setInterval(() => {}, 1000);
      const end = Date.now() + 10_000;
      while (stuck._attemptTimer === undefined && Date.now() < end) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      console.log(JSON.stringify({ attemptTimer: stuck._attemptTimer !== undefined, at: Date.now() }));
      clearInterval(hold);
    `;
    try {
      const ran = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], {
        timeoutMs: 20_000,
      });
      assert.equal(ran.code, 0, ran.stderr);
      const { at, ...armed } = JSON.parse(ran.stdout.trim().split('\n').at(-1)!);
      assert.deepEqual(armed, { attemptTimer: true });
      // The stuck attempt's timer has about 5 s to go: exiting well before shows it does not
      // hold the process.
      const lingered = Date.now() - at;
      assert.ok(lingered < 2_500, `exited ${lingered} ms after its last line`);
    } finally {
      peer.close();
    }
  });
});

describe(
  'RedisLink over a real Redis whose `timeout` closes idle clients',
  { skip: skipWithoutRedis() },
  () => {
    let redis: RedisServer;
    before(async () => {
      // Idle clients (subscribed ones are exempt) are closed after 1 s.
      redis = await startRedis({ extra: ['--timeout', '1'] });
    });
    after(async () => {
      await redis?.stop();
    });

    test('an idle publish connection Redis closes is reopened alone: the subscriber stays, no message is missed, nothing logged above debug', async () => {
      const diagCapture = captureDiag(DiagLogLevel.INFO);
      let received = 0;
      const link = new RedisLink({
        redis: redis.url,
        channels: ['idle-1'],
        onMessage: () => received++,
        // Never within the test: Redis closes the idle publish connection.
        keepAliveMs: 600_000,
      });
      const sender = createClient({ url: redis.url });
      sender.on('error', () => {});
      let sent = 0;
      let sending = true;
      try {
        link.start();
        await until(() => link.ready, 'the link');
        assert.equal(inside(link)._attemptTimer, undefined, 'the attempt timer is cleared once up');
        const { _pub: pub0, _sub: sub0 } = inside(link);
        await sender.connect();
        const loop = (async () => {
          while (sending) {
            await sender.publish('idle-1', `m${sent}`);
            sent++;
            await sleep(10);
          }
        })();
        // Awaited below; a failure of the sender itself (not the link's) must not go unhandled.
        loop.catch(() => {});
        await until(() => inside(link)._pub !== pub0, 'Redis closing the idle publish connection');
        await until(() => link.ready, 'the publish connection reopened');
        sending = false;
        await loop;
        await until(() => received === sent, `all ${sent} messages (received ${received})`, 5_000);
        assert.equal(inside(link)._sub, sub0, 'the subscriber was never replaced');
        assert.equal(inside(link)._generation, 1, 'no full reconnect');
        assert.deepEqual(diagCapture.messages, []);
        assert.equal(await link.publish('idle-1', 'from the link'), true);
      } finally {
        sending = false;
        diagCapture.restore();
        link.close();
        await sender.close().catch(() => {});
      }
    });

    test('the publish connection is kept alive by a PING more often than Redis’s `timeout`', async () => {
      const link = new RedisLink({
        redis: redis.url,
        channels: ['idle-2'],
        onMessage: () => {},
        keepAliveMs: 250,
      });
      try {
        link.start();
        await until(() => link.ready, 'the link');
        const pub0 = inside(link)._pub;
        // Redis's `timeout 1` closes a connection idle for more than 1 s, checked every 100 ms.
        await sleep(3_000);
        assert.equal(inside(link)._pub, pub0, 'the publish connection was never closed');
        assert.equal(link.ready, true);
        assert.equal(await link.publish('idle-2', 'still up'), true);
      } finally {
        link.close();
      }
    });

    test('the keep-alive timer never keeps the process alive', async () => {
      const module = fileURLToPath(new URL('../src/coordination/redis-link.ts', import.meta.url));
      const script = `
        import { RedisLink } from ${JSON.stringify(module)};
        const up = new RedisLink({ redis: ${JSON.stringify(redis.url)}, channels: ['exit'], onMessage() {}, keepAliveMs: 100 });
        up.start();
        const hold = setInterval(() => {}, 1000);
        const end = Date.now() + 10_000;
        while (!up.ready && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
        console.log(JSON.stringify({ ready: up.ready, keepAlive: up._keepAlive !== undefined }));
        clearInterval(hold);
      `;
      // Every 100 ms, a ref'd keep-alive would hold the process until runNode's timeout.
      const ran = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], {
        timeoutMs: 20_000,
      });
      assert.equal(ran.code, 0, ran.stderr);
      assert.deepEqual(JSON.parse(ran.stdout.trim().split('\n').at(-1)!), {
        ready: true,
        keepAlive: true,
      });
    });
  },
);

describe(
  'RedisLink over a real Redis that freezes while the link is up',
  { skip: skipWithoutRedis() },
  () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      // A stopped process takes no SIGTERM: let it go on first.
      if (redis !== undefined) process.kill(redis.pid, 'SIGCONT');
      await redis?.stop();
    });

    test('an unanswered PING is a lost link: one warning, reconnects once Redis answers again, messages flow', async () => {
      const diagCapture = captureDiag(DiagLogLevel.INFO);
      const received: string[] = [];
      const link = new RedisLink({
        redis: redis.url,
        channels: ['frozen'],
        onMessage: (message) => received.push(message),
        keepAliveMs: 100,
        connectTimeoutMs: 300,
      });
      const sender = createClient({ url: redis.url });
      sender.on('error', () => {});
      let stopped = false;
      try {
        link.start();
        await until(() => link.ready, 'the link');
        const sub0 = inside(link)._sub;
        // SIGSTOP: the sockets stay open and the kernel still accepts, but
        // nothing answers, as with a peer gone without a reset.
        process.kill(redis.pid, 'SIGSTOP');
        stopped = true;
        await until(() => !link.ready, 'the unanswered PING to end the link', 5_000);
        assert.equal(await link.publish('frozen', 'while frozen'), false);
        const warnings = diagCapture.messages.filter((m) => m.level === 'warn');
        assert.equal(warnings.length, 1, JSON.stringify(diagCapture.messages));
        assert.match(warnings[0]!.message, /no answer from Redis to a PING within 300 ms/);
        process.kill(redis.pid, 'SIGCONT');
        stopped = false;
        await until(() => link.ready, 'the link back', 15_000);
        assert.notEqual(inside(link)._sub, sub0, 'a new subscriber');
        assert.ok(
          diagCapture.messages.some((m) => m.level === 'info' && /reconnected/.test(m.message)),
          JSON.stringify(diagCapture.messages),
        );
        await sender.connect();
        await sender.publish('frozen', 'after');
        await until(() => received.includes('after'), 'a message on the new subscriber', 5_000);
        assert.equal(await link.publish('frozen', 'from the link'), true);
      } finally {
        if (stopped) process.kill(redis.pid, 'SIGCONT');
        diagCapture.restore();
        link.close();
        await sender.close().catch(() => {});
      }
    });

    test('PINGs that are answered never end the link, and close() leaves no PING timer', async () => {
      const link = new RedisLink({
        redis: redis.url,
        channels: ['answered'],
        onMessage: () => {},
        keepAliveMs: 50,
        connectTimeoutMs: 300,
      });
      try {
        link.start();
        await until(() => link.ready, 'the link');
        const { _pub: pub0, _sub: sub0 } = inside(link);
        await sleep(1_000);
        assert.equal(inside(link)._pub, pub0);
        assert.equal(inside(link)._sub, sub0);
        assert.equal(inside(link)._generation, 1, 'no reconnect');
      } finally {
        link.close();
      }
      assert.equal((link as unknown as { _pinging: Map<unknown, unknown> })._pinging.size, 0);
    });
  },
);

describe('RedisLink: its own Redis traffic is never traced', () => {
  test('connect, subscribe, publish and PING run with tracing suppressed, outside the caller’s trace', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      // What the client saw of the active context at each call.
      const calls: { call: string; suppressed: boolean; traceId: string | undefined }[] = [];
      const see = (call: string) =>
        calls.push({
          call,
          suppressed: isTracingSuppressed(context.active()),
          traceId: trace.getSpanContext(context.active())?.traceId,
        });
      const client = (): RedisClientLike => {
        const c: RedisClientLike = {
          isReady: false,
          isOpen: false,
          async connect() {
            see('connect');
            await new Promise((resolve) => setImmediate(resolve));
            // A step after an await of the connect: still untraced.
            see('connected');
            Object.assign(c, { isReady: true, isOpen: true });
          },
          async publish() {
            see('publish');
          },
          async subscribe() {
            see('subscribe');
          },
          async unsubscribe() {
            see('unsubscribe');
          },
          async ping() {
            see('ping');
          },
          duplicate: () => client(),
          on: () => c,
          destroy() {},
        };
        return c;
      };
      const link = new RedisLink({
        redis: 'redis://127.0.0.1:1',
        channels: ['a'],
        onMessage: () => {},
        load: async () => ({ createClient: () => client() }),
        keepAliveMs: 10,
      });
      // An app's request, active when the recorder acts (a flush runs in onEnd).
      const request = trace.setSpanContext(context.active(), {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 1,
      });
      await context.with(request, async () => {
        link.start();
        await until(() => link.ready, 'the link to connect');
        link.subscribe('b');
        link.unsubscribe('b');
        assert.equal(await link.publish('a', 'hello'), true);
        await until(() => calls.some((c) => c.call === 'ping'), 'a PING');
      });
      link.close();
      for (const call of ['connect', 'connected', 'subscribe', 'unsubscribe', 'publish', 'ping']) {
        assert.ok(
          calls.some((c) => c.call === call),
          `the client saw a ${call}`,
        );
      }
      for (const c of calls) {
        assert.deepEqual(c, { call: c.call, suppressed: true, traceId: undefined });
      }
    } finally {
      context.disable();
    }
  });
});

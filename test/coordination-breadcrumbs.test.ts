import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { createClient } from 'redis';
import {
  BREADCRUMBS_HEADER,
  breadcrumbsOf,
  FlightRecorderPropagator,
  parseBreadcrumbs,
} from '../src/coordination/breadcrumbs.js';
import { FlightRecorderSpanProcessor } from '../src/flight-recorder-span-processor.js';
import { REMOTE_TRIGGER_ATTRIBUTE, SNAPSHOT_ID_ATTRIBUTE } from '../src/marks.js';
import { type RedisServer, skipWithoutRedis, startRedis } from './helpers/redis-server.js';
import { TestExporter } from './helpers/test-exporter.js';
import { makeTracing } from './helpers/tracing.js';

const propagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new FlightRecorderPropagator()],
});

describe('FlightRecorderPropagator', () => {
  test('adds the calling service to the names it was called with, and reads them back', () => {
    const p = new FlightRecorderPropagator({ serviceName: 'svc b' });
    const carrier: Record<string, string> = {};
    const upstream = p.extract(
      ROOT_CONTEXT,
      { [BREADCRUMBS_HEADER]: 'svc-a' },
      defaultTextMapGetter,
    );
    p.inject(upstream, carrier, defaultTextMapSetter);
    assert.equal(carrier[BREADCRUMBS_HEADER], 'svc-a,svc%20b');
    const down = p.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    assert.deepEqual(breadcrumbsOf(down), ['svc-a', 'svc b']);
    // Itself once only, however often the request comes back through it.
    const again: Record<string, string> = {};
    p.inject(down, again, defaultTextMapSetter);
    assert.equal(again[BREADCRUMBS_HEADER], 'svc-a,svc%20b');
    assert.deepEqual(p.fields(), [BREADCRUMBS_HEADER]);
  });

  test('a malformed header keeps what it holds of valid names, at most 16, the newest', () => {
    assert.deepEqual(parseBreadcrumbs('a,,%E0%A4%A,b, a ,' + 'x'.repeat(500)), ['a', 'b']);
    const many = Array.from({ length: 40 }, (_, i) => `s${i}`).join(',');
    assert.equal(parseBreadcrumbs(many).length, 16);
    assert.equal(
      breadcrumbsOf(
        new FlightRecorderPropagator().extract(
          ROOT_CONTEXT,
          { [BREADCRUMBS_HEADER]: ',,' },
          defaultTextMapGetter,
        ),
      ),
      undefined,
    );
  });
});

describe('coordination with breadcrumbs over a real Redis', { skip: skipWithoutRedis() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  const service = (name: string, targets: 'broadcast' | 'breadcrumbs') => {
    const exporter = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({
      exporter,
      latencyThresholdMs: 100,
      flushScope: 'trace',
      // Exports read as they happen: no 5 s wait for local flushes to share a call.
      exportDelayMs: 0,
      coordination: { redis: redis.url, channel: `bc-${targets}`, targets },
    });
    const { provider } = makeTracing(recorder, undefined, name);
    return { name, exporter, recorder, tracer: provider.getTracer('t') };
  };
  type Service = ReturnType<typeof service>;

  /** One request A → B → C: each hop injects and extracts as HTTP would. Returns the roots, unended. */
  function request(
    a: Service,
    b: Service,
    c: Service,
    startTime = Date.now(),
  ): { trace: string; roots: Span[] } {
    const rootA = a.tracer.startSpan('a', { startTime }, ROOT_CONTEXT);
    const hop = (from: Context): Context => {
      const carrier: Record<string, string> = {};
      propagator.inject(from, carrier, defaultTextMapSetter);
      return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    };
    // As the HTTP instrumentation does: B's handler runs in the context it extracted.
    const inB = hop(trace.setSpan(ROOT_CONTEXT, rootA));
    const rootB = b.tracer.startSpan('b', { startTime }, inB);
    const rootC = c.tracer.startSpan('c', { startTime }, hop(trace.setSpan(inB, rootB)));
    return { trace: rootA.spanContext().traceId, roots: [rootA, rootB, rootC] };
  }

  async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
    const end = Date.now() + 15_000;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('breadcrumbs: a trigger in one branch of a request reaches the services of its other branches', async () => {
    // A → B → {C, D}: C fails after D answered; D is on the request's path
    // but not upstream of C, so only B's passing it on can reach it.
    const all = ['sib-a', 'sib-b', 'sib-c', 'sib-d'].map((n) => service(n, 'breadcrumbs'));
    const [a, b, c, d] = all as [Service, Service, Service, Service];
    const hop = (from: Context): Context => {
      const carrier: Record<string, string> = {};
      propagator.inject(from, carrier, defaultTextMapSetter);
      return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    };
    const run = (fail: boolean, startTime: number) => {
      const rootA = a.tracer.startSpan('a', { startTime }, ROOT_CONTEXT);
      const inB = hop(trace.setSpan(ROOT_CONTEXT, rootA));
      const rootB = b.tracer.startSpan('b', { startTime }, inB);
      const toB = trace.setSpan(inB, rootB);
      const rootD = d.tracer.startSpan('d', { startTime }, hop(toB));
      const rootC = c.tracer.startSpan('c', { startTime }, hop(toB));
      rootD.end(startTime + 2);
      if (fail) rootC.setStatus({ code: SpanStatusCode.ERROR });
      rootC.end(startTime + 3);
      rootB.end(startTime + 4);
      rootA.end(startTime + 5);
      return rootA.spanContext().traceId;
    };
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    try {
      await until(() => all.every((s) => s.recorder['_coordination']?.ready === true), 'links');
      run(false, Date.now()); // teaches each service who calls it
      await until(async () => {
        const n = await client.pubSubNumSub([
          'bc-breadcrumbs:after:sib-b',
          'bc-breadcrumbs:to:sib-b',
          'bc-breadcrumbs:to:sib-a',
        ]);
        return (
          n['bc-breadcrumbs:after:sib-b'] === 2 &&
          n['bc-breadcrumbs:to:sib-b'] === 1 &&
          n['bc-breadcrumbs:to:sib-a'] === 1
        );
      }, 'subscriptions');
      const failed = run(true, Date.now());
      const exported = (s: Service) =>
        s.exporter.spans.filter((x) => x.spanContext().traceId === failed);
      // The exports themselves, not only D's counter: a remote flush is
      // counted when it is taken, and exported a turn or more later.
      await until(() => all.every((s) => exported(s).length > 0), 'every service to export');
      const cMark = exported(c)[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE];
      for (const s of [a, b, d]) {
        const spans = exported(s);
        assert.equal(spans.length, 1, s.name);
        assert.equal(spans[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE], cMark, s.name);
      }
      await new Promise((r) => setTimeout(r, 200));
      // Each acted once: nothing exported twice.
      assert.deepEqual(
        all.map((s) => s.recorder.stats().remoteFlushes),
        [1, 1, 0, 1],
      );
    } finally {
      await client.close();
      await Promise.all(all.map((s) => s.recorder.shutdown()));
    }
  });

  for (const targets of ['breadcrumbs', 'broadcast'] as const) {
    test(`${targets}: a trigger reaches ${targets === 'breadcrumbs' ? 'only the services the request went through' : 'every service'}, both ways`, async () => {
      const all = ['svc-a', 'svc-b', 'svc-c', 'svc-x'].map((n) => service(n, targets));
      const [a, b, c, x] = all as [Service, Service, Service, Service];
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      try {
        await until(() => all.every((s) => s.recorder['_coordination']?.ready === true), 'links');
        // svc-x serves requests of its own, and learns its name as the others do.
        x.tracer.startSpan('x', {}, ROOT_CONTEXT).end();
        // A first request teaches B and C who calls them; wait until they listen.
        const warm = request(a, b, c);
        for (const r of warm.roots.reverse()) r.end();
        if (targets === 'breadcrumbs') {
          await until(async () => {
            const n = await client.pubSubNumSub([
              `bc-${targets}:after:svc-a`,
              `bc-${targets}:after:svc-b`,
              `bc-${targets}:to:svc-a`,
            ]);
            return (
              n[`bc-${targets}:after:svc-a`] === 2 &&
              n[`bc-${targets}:after:svc-b`] === 1 &&
              n[`bc-${targets}:to:svc-a`] === 1
            );
          }, 'subscriptions');
        }
        // 1. A slow root in A (500 ms; B's and C's parts took 10): B and C flush.
        const t0 = Date.now() - 500;
        const one = request(a, b, c, t0);
        one.roots[2]!.end(t0 + 10);
        one.roots[1]!.end(t0 + 10);
        one.roots[0]!.end();
        // The exports themselves: a flush is counted when it is taken, and
        // exported a turn or more later.
        const has = (s: Service, name: string) =>
          s.exporter.spans.some((x) => x.name === name && x.spanContext().traceId === one.trace);
        await until(
          () =>
            b.recorder.stats().remoteFlushes === 1 &&
            c.recorder.stats().remoteFlushes === 1 &&
            has(a, 'a') &&
            has(b, 'b') &&
            has(c, 'c'),
          'A, B and C to export',
        );
        const snapshot = a.exporter.spans.find((s) => s.name === 'a')!.attributes[
          SNAPSHOT_ID_ATTRIBUTE
        ];
        for (const s of [...b.exporter.spans, ...c.exporter.spans]) {
          assert.equal(s.attributes[SNAPSHOT_ID_ATTRIBUTE], snapshot);
          assert.equal(s.attributes[REMOTE_TRIGGER_ATTRIBUTE], true);
        }
        // 2. An error in C while B and A still serve the request: their spans follow the mark.
        // Explicit end times keep these roots fast however long the waits below take.
        const t2 = Date.now();
        const two = request(a, b, c, t2);
        two.roots[2]!.setStatus({ code: SpanStatusCode.ERROR }).end(t2 + 5);
        await until(
          () => b.recorder['_flushed'].lateMark(two.trace, undefined) !== undefined,
          'B to hear of it',
        );
        await until(
          () => a.recorder['_flushed'].lateMark(two.trace, undefined) !== undefined,
          'A to hear of it',
        );
        two.roots[1]!.end(t2 + 8);
        two.roots[0]!.end(t2 + 10);
        await until(
          () =>
            a.exporter.spans.some((s) => s.name === 'a' && s.spanContext().traceId === two.trace),
          'A’s late root',
        );
        const cMark = c.exporter.spans.find(
          (s) => s.name === 'c' && s.spanContext().traceId === two.trace,
        )!.attributes[SNAPSHOT_ID_ATTRIBUTE];
        for (const s of [...a.exporter.spans, ...b.exporter.spans].filter(
          (s) => s.spanContext().traceId === two.trace,
        )) {
          assert.equal(s.attributes[SNAPSHOT_ID_ATTRIBUTE], cMark, s.name);
          assert.equal(s.attributes[REMOTE_TRIGGER_ATTRIBUTE], true);
        }
        await new Promise((r) => setTimeout(r, 300));
        const received = all.map((s) => s.recorder.stats().remoteTriggersReceived);
        if (targets === 'breadcrumbs') {
          assert.equal(x.recorder.stats().remoteTriggersReceived, 0, 'svc-x hears nothing');
          // Two triggers, delivered to the services of the request only: A's to
          // B and C; C's to B and A, which each pass it on to their own
          // downstream services (where C, its origin, and B, which acted,
          // ignore it).
          assert.deepEqual(received, [1, 3, 3, 0]);
        } else {
          // Each trigger reaches all four, its origin included (which ignores it).
          assert.deepEqual(received, [2, 2, 2, 2]);
        }
        assert.equal(x.recorder.stats().remoteFlushes, 0);
      } finally {
        await client.close();
        await Promise.all(all.map((s) => s.recorder.shutdown()));
      }
    });
  }
});

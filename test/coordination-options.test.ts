import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { defaultTextMapGetter, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { BREADCRUMBS_HEADER, FlightRecorderPropagator } from '../src/coordination/breadcrumbs.js';
import {
  Coordinator,
  type CoordinationHost,
  MAX_BREADCRUMBS_BYTES,
  MAX_PENDING_TRACES,
  MAX_UPSTREAM_SERVICES,
  PENDING_TRACE_MS,
  UPSTREAM_IDLE_MS,
} from '../src/coordination/coordinator.js';
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES } from '../src/coordination/message.js';
import { redactText, redactUrl } from '../src/coordination/redact.js';
import { COORDINATION_OPTIONS, resolveTable } from '../src/config.js';
import type { FlushMark } from '../src/marks.js';
import { FlightRecorderSpanProcessor } from '../src/flight-recorder-span-processor.js';
import { makeLogging } from './helpers/logs.js';
import { runNode } from './helpers/process.js';
import { TestExporter } from './helpers/test-exporter.js';
import { fail, makeTracing, remoteParent } from './helpers/tracing.js';

const fixture = fileURLToPath(new URL('./fixtures/coordination-loads.ts', import.meta.url));

/** A coordinator whose link never connects, so a test drives receive() and rootStarted() itself. */
function offlineCoordinator(host: CoordinationHost, options: object): Coordinator {
  const o = resolveTable(COORDINATION_OPTIONS, options, {}, () => {});
  return new Coordinator(o, host, () => new Promise(() => {}));
}

describe('coordination: options, messages, the receiving side', () => {
  test('without the option or FLIGHT_RECORDER_REDIS_URL nothing is loaded; with the variable node-redis is', async () => {
    const env = { ...process.env, FLIGHT_RECORDER_REDIS_URL: undefined };
    const off = await runNode(['--import', 'tsx', fixture], { env, timeoutMs: 60_000 });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(JSON.parse(off.stdout), { loaded: false, exported: 1 });
    // Control: the same program with the variable set loads it (Redis need not be up).
    const on = await runNode(['--import', 'tsx', fixture], {
      env: { ...env, FLIGHT_RECORDER_REDIS_URL: 'redis://127.0.0.1:1' },
      timeoutMs: 60_000,
    });
    assert.equal(on.code, 0, on.stderr);
    assert.deepEqual(JSON.parse(on.stdout), { loaded: true, exported: 1 });
  });

  test('options: the env turns it on; bad values throw (code) or warn (env) with the URL redacted', () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    const fromEnv = resolveTable(
      COORDINATION_OPTIONS,
      undefined,
      {
        FLIGHT_RECORDER_REDIS_URL: 'rediss://u:hunter22@r:6380/1',
        FLIGHT_RECORDER_REDIS_CHANNEL: 'c1',
      },
      warn,
    );
    assert.equal(fromEnv.redis, 'rediss://u:hunter22@r:6380/1');
    assert.equal(fromEnv.channel, 'c1');
    assert.equal(fromEnv.remoteFlushesPerSecond, 10);
    const bad = resolveTable(
      COORDINATION_OPTIONS,
      undefined,
      {
        FLIGHT_RECORDER_REDIS_URL: 'http://u:hunter22@r',
        FLIGHT_RECORDER_REMOTE_FLUSHES_PER_SECOND: '0',
      },
      warn,
    );
    assert.equal(bad.redis, undefined);
    assert.equal(warnings.length, 2);
    assert.ok(!warnings.join().includes('hunter22'), warnings.join());
    assert.match(warnings[0]!, /FLIGHT_RECORDER_REDIS_URL="http:\/\/\*\*\*@r\/?"/);
    // A channel is trimmed as the other variables are (a stray space would put
    // one service on a channel of its own), and a blank one is refused.
    const channel = (raw: string) =>
      resolveTable(COORDINATION_OPTIONS, undefined, { FLIGHT_RECORDER_REDIS_CHANNEL: raw }, warn)
        .channel;
    assert.equal(channel(' c1 '), 'c1');
    assert.equal(warnings.length, 2);
    assert.equal(channel('   '), 'otel-flight-recorder');
    assert.equal(warnings.length, 3);
    assert.match(warnings[2]!, /FLIGHT_RECORDER_REDIS_CHANNEL=" {3}"/);
    assert.throws(
      () =>
        new FlightRecorderSpanProcessor({
          exporter: new TestExporter(),
          coordination: { redis: 'redis://u:hunter22@h', remoteFlushesPerSecond: 0 },
        }),
      /Expected `coordination.remoteFlushesPerSecond` to be an integer >= 1/,
    );
    assert.throws(
      () =>
        new FlightRecorderSpanProcessor({
          exporter: new TestExporter(),
          coordination: 'redis://x' as never,
        }),
      /Expected `coordination` to be an object/,
    );
  });

  test('redaction removes users and passwords, URL-encoded or not', () => {
    assert.equal(redactUrl('redis://alice:s%40cret@h:1/0'), 'redis://***@h:1/0');
    assert.equal(redactUrl('redis://h:1'), 'redis://h:1');
    assert.equal(redactUrl('not a url'), '(a value that is not a URL)');
    const url = 'redis://alice:s%40cret@h:1';
    assert.equal(
      redactText(`WRONGPASS for alice with s@cret at ${url}`, url),
      'WRONGPASS for *** with *** at redis://***@h:1',
    );
  });

  test('messages: version 1 round-trips; anything else is not one', () => {
    const m = {
      trace: 'ab'.repeat(16),
      snapshot: '0011223344556677',
      trigger: 'latency',
      service: 'a',
      instance: 'i',
    };
    const raw = encodeMessage(m);
    assert.ok(raw.length < 200, `${raw.length} bytes`);
    assert.deepEqual(decodeMessage(raw), { v: 1, ...m });
    for (const junk of [
      '',
      'null',
      '{',
      JSON.stringify({ ...m, v: 2 }),
      JSON.stringify({ ...m, v: 1, trace: '0'.repeat(32) }),
      JSON.stringify({ ...m, v: 1, trace: 'AB'.repeat(16) }),
      JSON.stringify({ ...m, v: 1, trigger: '' }),
      JSON.stringify({ ...m, v: 1, service: 5 }),
      JSON.stringify({ ...m, v: 1, pad: 'x'.repeat(MAX_MESSAGE_BYTES) }),
    ]) {
      assert.equal(decodeMessage(junk), undefined, junk.slice(0, 80));
    }
  });

  test('the receiver acts once per trace, never on its own, only on what it holds, at most remoteFlushesPerSecond', () => {
    let now = 1_000;
    const held = new Set(['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32), 'd'.repeat(32)]);
    const flushed: [string, FlushMark][] = [];
    const host: CoordinationHost = {
      heldRecords: (t) => (held.has(t) ? [1] : undefined),
      closedFirst: () => -1,
      forgetClosed: () => {},
      flushRemote: (t, mark) => {
        flushed.push([t, mark]);
        held.delete(t);
      },
      now: () => now,
    };
    const c = offlineCoordinator(host, { redis: 'redis://127.0.0.1:1', remoteFlushesPerSecond: 2 });
    const msg = (trace: string, instance = 'other') =>
      encodeMessage({ trace, snapshot: 's1', trigger: 'error', service: 'x', instance });
    c.receive(msg('a'.repeat(32)));
    c.receive(msg('a'.repeat(32))); // repeat
    c.receive(msg('e'.repeat(32))); // held nowhere: no token spent
    c.receive(msg('b'.repeat(32)));
    c.receive(msg('c'.repeat(32))); // bucket of 2 is empty: refused
    c.receive(msg('d'.repeat(32), c.instance)); // its own
    c.receive('garbage');
    assert.deepEqual(
      flushed.map(([t]) => t[0]),
      ['a', 'b'],
    );
    assert.deepEqual(flushed[0]![1], { snapshotId: 's1', trigger: 'error', remote: true });
    assert.deepEqual(c.counters, {
      published: 0,
      publishFailures: 0,
      received: 7,
      flushes: 2,
      ignored: 3,
      refused: 1,
    });
    now += 500; // half a second refills one token
    c.receive(msg('c'.repeat(32)));
    assert.equal(c.counters.flushes, 3);
    c.close();
  });

  test('a flood of remote triggers over budget costs no ring scan each, and a trace whose records are gone is scanned once', () => {
    const now = 1_000;
    let scans = 0;
    const gone = 'f'.repeat(32);
    /** The closed traces, with where their records start (the recorder's closed-trace table). */
    const closed = new Map<string, number>();
    const host: CoordinationHost = {
      // Finding a closed trace's records scans the ring from its first one.
      heldRecords: (t, firstSeq) => {
        if (firstSeq !== undefined && firstSeq >= 0) scans++;
        return firstSeq === undefined || firstSeq < 0 || t === gone ? undefined : [firstSeq];
      },
      closedFirst: (t) => closed.get(t) ?? -1,
      forgetClosed: (t) => closed.delete(t),
      flushRemote: () => {},
      now: () => now,
    };
    const c = offlineCoordinator(host, { redis: 'redis://127.0.0.1:1', remoteFlushesPerSecond: 2 });
    const msg = (trace: string) =>
      encodeMessage({ trace, snapshot: 's1', trigger: 'error', service: 'x', instance: 'other' });
    closed.set(gone, 0);
    for (let k = 0; k < 5; k++) c.receive(msg(gone));
    assert.equal(scans, 1, 'records gone: later messages about it need no scan');
    const traces = Array.from({ length: 100 }, (_, i) => (i + 1).toString(16).padStart(32, '0'));
    for (const t of traces) closed.set(t, 10);
    for (const t of traces) c.receive(msg(t));
    assert.equal(c.counters.flushes, 2);
    assert.equal(c.counters.refused, 98);
    assert.equal(scans, 1 + 2, 'one scan per flush the bucket allowed, none per refusal');
    c.close();
  });

  test('breadcrumbs: made-up upstream names from clients fill the channels only until they idle; a real upstream service then gets in', () => {
    let now = 1_000;
    const host: CoordinationHost = {
      heldRecords: () => undefined,
      closedFirst: () => -1,
      forgetClosed: () => {},
      flushRemote: () => {},
      now: () => now,
    };
    const c = offlineCoordinator(host, { redis: 'redis://127.0.0.1:1', targets: 'breadcrumbs' });
    const propagator = new FlightRecorderPropagator();
    const root = { resource: { attributes: { 'service.name': 'svc-b' } } } as never;
    const request = (names: string[], i: number) =>
      c.rootStarted(
        (i + 1).toString(16).padStart(32, '0'),
        root,
        propagator.extract(
          ROOT_CONTEXT,
          { [BREADCRUMBS_HEADER]: names.join(',') },
          defaultTextMapGetter,
        ),
      );
    const listening = (c as unknown as { _listening: Map<string, number> })._listening;
    // Four requests of 16 made-up names each take every place.
    for (let i = 0; i < 4; i++)
      request(
        Array.from({ length: 16 }, (_, k) => `junk-${i}-${k}`),
        i,
      );
    assert.equal(listening.size, MAX_UPSTREAM_SERVICES);
    request(['gateway'], 10);
    assert.ok(!listening.has('gateway'), 'all places taken by names seen just now');
    // A minute on, the made-up names are idle: the real upstream service takes a place.
    now += UPSTREAM_IDLE_MS;
    request(['gateway'], 11);
    assert.ok(listening.has('gateway'));
    assert.equal(listening.size, MAX_UPSTREAM_SERVICES);
    // Seen again and again, it keeps its place against later made-up names.
    for (let i = 0; i < 200; i++) {
      now += 1_000;
      request(['gateway', `junk-late-${i}`], 100 + i);
    }
    assert.ok(listening.has('gateway'));
    c.close();
  });

  test('a trigger that came before any request of its trace reached this service is followed by the local root that starts later, once, within a minute', () => {
    let now = 1_000;
    const open = new Set<string>();
    const flushed: string[] = [];
    const host: CoordinationHost = {
      heldRecords: (t) => (open.has(t) ? [] : undefined),
      closedFirst: () => -1,
      forgetClosed: () => {},
      flushRemote: (t) => flushed.push(t),
      now: () => now,
    };
    const c = offlineCoordinator(host, { redis: 'redis://127.0.0.1:1' });
    const msg = (trace: string) =>
      encodeMessage({ trace, snapshot: 's1', trigger: 'error', service: 'x', instance: 'other' });
    const root = (t: string) => {
      open.add(t);
      c.rootStarted(t, {} as never, ROOT_CONTEXT);
    };
    const [late, stale, other] = ['1', '2', '3'].map((d) => d.repeat(32)) as [
      string,
      string,
      string,
    ];
    c.receive(msg(late));
    c.receive(msg(stale));
    assert.deepEqual(flushed, [], 'held nothing: nothing to flush yet');
    root(late);
    root(other);
    assert.deepEqual(flushed, [late]);
    root(late); // a second local root of it: acted on already
    now += PENDING_TRACE_MS + 1;
    root(stale);
    assert.deepEqual(flushed, [late], 'a minute on, a trigger is not followed');
    // Bounded: a flood of triggers of traces held nowhere keeps the newest.
    const flood = Array.from({ length: MAX_PENDING_TRACES + 10 }, (_, i) =>
      (i + 16).toString(16).padStart(32, 'f'),
    );
    for (const t of flood) c.receive(msg(t));
    const pending = (c as unknown as { _pending: Map<string, unknown> })._pending;
    assert.equal(pending.size, MAX_PENDING_TRACES);
    root(flood[0]!);
    root(flood.at(-1)!);
    assert.deepEqual(flushed, [late, flood.at(-1)]);
    c.close();
  });

  test('a remote trigger of a trace whose own trigger waits for the policy here (a storm), its root ended, flushes what it holds', async () => {
    const exporter = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({
      exporter,
      triggers: ['error'],
      flushScope: 'trace',
      exportDelayMs: 0,
      maxTracesPerSecond: 1,
      runtimeEvents: false,
      // Never connects: the test hands the coordinator its message.
      coordination: { redis: 'redis://127.0.0.1:1' },
    });
    const t = makeTracing(recorder, undefined, 'svc-b');
    try {
      // The first errors spend the half burst; the next waits for the policy (200 ms).
      for (let i = 0; i < 2; i++) fail(t.start('GET /warm', Date.now())).end();
      const traceId = '6'.repeat(32);
      const root = fail(t.start('GET /b', Date.now(), remoteParent(traceId)));
      t.start('query', Date.now(), root).end();
      root.end();
      assert.ok(
        recorder['_waiting'].deferred(traceId) !== undefined,
        'GET /b waits for the policy',
      );
      recorder['_coordination']!.receive(
        encodeMessage({
          trace: traceId,
          snapshot: 'abababababababab',
          trigger: 'error',
          service: 'svc-a',
          instance: 'other',
        }),
      );
      assert.equal(recorder.stats().remoteFlushes, 1);
      await recorder.forceFlush();
      assert.deepEqual(
        exporter.spans
          .filter((s) => s.spanContext().traceId === traceId)
          .map((s) => [s.name, s.attributes['flight_recorder.snapshot.id']])
          .sort(),
        [
          ['GET /b', 'abababababababab'],
          ['query', 'abababababababab'],
        ],
      );
    } finally {
      await recorder.shutdown();
    }
  });

  test('a remote trigger while the trace is being served here, nothing ended yet, ships its log records now and later, and its spans', async () => {
    const exporter = new TestExporter();
    const recorder = new FlightRecorderSpanProcessor({
      exporter,
      latencyThresholdMs: 10_000,
      flushScope: 'trace',
      exportDelayMs: 0,
      // Never connects: the test hands the coordinator its message.
      coordination: { redis: 'redis://127.0.0.1:1' },
    });
    const t = makeTracing(recorder, undefined, 'svc-b');
    const logs = makeLogging(recorder);
    try {
      const traceId = '4'.repeat(32);
      const root = t.start('GET /b', Date.now(), remoteParent(traceId));
      const inRoot = trace.setSpan(ROOT_CONTEXT, root);
      logs.logger.emit({ body: 'before the trigger', context: inRoot });
      recorder['_coordination']!.receive(
        encodeMessage({
          trace: traceId,
          snapshot: 'abcdabcdabcdabcd',
          trigger: 'error',
          service: 'svc-c',
          instance: 'other',
        }),
      );
      logs.logger.emit({ body: 'after the trigger', context: inRoot });
      root.end();
      await recorder.forceFlush();
      await logs.provider.forceFlush();
      assert.deepEqual(
        exporter.spans.map((s) => [s.name, s.attributes['flight_recorder.snapshot.id']]),
        [['GET /b', 'abcdabcdabcdabcd']],
      );
      const bodies = logs.exporter.records.map((r) => r.body?.stringValue).sort();
      assert.deepEqual(bodies, ['after the trigger', 'before the trigger']);
      for (const r of logs.exporter.records) {
        const marks = Object.fromEntries((r.attributes ?? []).map((a) => [a.key, a.value]));
        assert.deepEqual(marks['flight_recorder.snapshot.id'], { stringValue: 'abcdabcdabcdabcd' });
        assert.deepEqual(marks['flight_recorder.remote_trigger'], { boolValue: true });
      }
      assert.equal(recorder.stats().bufferedLogs, 0);
      assert.equal(recorder.stats().remoteFlushes, 1);
      // A trigger of a trace no request of which has reached this service yet:
      // the request that comes later is exported under it.
      const later = '5'.repeat(32);
      recorder['_coordination']!.receive(
        encodeMessage({
          trace: later,
          snapshot: 'efefefefefefefef',
          trigger: 'latency',
          service: 'svc-a',
          instance: 'other',
        }),
      );
      const lateRoot = t.start('GET /c', Date.now(), remoteParent(later));
      t.start('query', Date.now(), lateRoot).end();
      lateRoot.end();
      await recorder.forceFlush();
      assert.deepEqual(
        exporter.spans
          .filter((s) => s.spanContext().traceId === later)
          .map((s) => [s.name, s.attributes['flight_recorder.snapshot.id']])
          .sort(),
        [
          ['GET /c', 'efefefefefefefef'],
          ['query', 'efefefefefefefef'],
        ],
      );
      assert.equal(recorder.stats().remoteFlushes, 2);
    } finally {
      await recorder.shutdown();
    }
  });

  test('breadcrumbs: what the remembered breadcrumbs take is bounded, whatever names clients send', () => {
    const host: CoordinationHost = {
      heldRecords: () => undefined,
      closedFirst: () => -1,
      forgetClosed: () => {},
      flushRemote: () => {},
      now: () => 1_000,
    };
    const c = offlineCoordinator(host, { redis: 'redis://127.0.0.1:1', targets: 'breadcrumbs' });
    const propagator = new FlightRecorderPropagator({ serviceName: 'self' });
    const self = { resource: { attributes: { 'service.name': 'self' } } } as never;
    const state = c as unknown as { _upstream: Map<string, unknown>; _upstreamBytes: number };
    // The usual few paths share their lists: a map entry a trace.
    for (let i = 0; i < 1_000; i++) {
      const header = ['gateway', 'checkout'].join(',');
      const ctx = propagator.extract(
        ROOT_CONTEXT,
        { [BREADCRUMBS_HEADER]: header },
        defaultTextMapGetter,
      );
      c.rootStarted(i.toString(16).padStart(32, '0'), self, ctx);
    }
    assert.equal(state._upstream.size, 1_000);
    assert.ok(state._upstreamBytes < 1_000 * 200, `${state._upstreamBytes} bytes`);
    // Made-up names, 16 of 128 characters a request, all different.
    for (let i = 0; i < 4_000; i++) {
      const names = Array.from({ length: 16 }, (_, k) => `${i}-${k}-`.padEnd(128, 'x'));
      const ctx = propagator.extract(
        ROOT_CONTEXT,
        { [BREADCRUMBS_HEADER]: names.join(',') },
        defaultTextMapGetter,
      );
      c.rootStarted((i + 5_000).toString(16).padStart(32, '0'), self, ctx);
    }
    assert.ok(state._upstreamBytes <= MAX_BREADCRUMBS_BYTES, `${state._upstreamBytes} bytes`);
    assert.ok(state._upstream.size < 400, `${state._upstream.size} traces`);
    c.close();
  });

  test('breadcrumbs: a trigger from downstream is passed on once a trace by the instance that served it, whatever its own budget', () => {
    const held = new Set(['1'.repeat(32), '2'.repeat(32)]);
    const host: CoordinationHost = {
      heldRecords: (t) => (held.has(t) ? [1] : undefined),
      closedFirst: () => -1,
      forgetClosed: () => {},
      flushRemote: () => {},
      now: () => 1_000,
    };
    const c = offlineCoordinator(host, {
      redis: 'redis://127.0.0.1:1',
      targets: 'breadcrumbs',
      remoteFlushesPerSecond: 1,
    });
    const passed: string[] = [];
    (c as unknown as { _link: { publish(ch: string): Promise<boolean> } })._link.publish = (
      channel: string,
    ) => {
      passed.push(channel);
      return Promise.resolve(true);
    };
    // It learns its own name from its first local root.
    c.rootStarted(
      'f'.repeat(32),
      { resource: { attributes: { 'service.name': 'b' } } } as never,
      ROOT_CONTEXT,
    );
    const msg = (trace: string) =>
      encodeMessage({ trace, snapshot: 's1', trigger: 'error', service: 'c', instance: 'other' });
    const toB = 'otel-flight-recorder:to:b';
    c.receive(msg('1'.repeat(32)), toB); // flushed, passed on
    c.receive(msg('2'.repeat(32)), toB); // over budget: refused, still passed on
    c.receive(msg('2'.repeat(32)), toB); // again: passed on once only
    c.receive(msg('3'.repeat(32)), toB); // another instance served it: not passed on
    c.receive(msg('1'.repeat(32)), 'otel-flight-recorder:after:a'); // from upstream: never
    assert.deepEqual(passed, ['otel-flight-recorder:after:b', 'otel-flight-recorder:after:b']);
    assert.equal(c.counters.flushes, 1);
    assert.equal(c.counters.refused, 2);
    c.close();
  });
});

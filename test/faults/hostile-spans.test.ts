// Spans no well-behaved instrumentation makes, through the real OTLP
// exporter to a collector that decodes as strictly as the real one. One
// hostile span must never take the good spans of its batch down with it,
// nor break the recorder's clock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, mock, test } from 'node:test';
import { context, type Span, type Tracer, trace } from '@opentelemetry/api';
import type { FlushInfo } from '../../src/index.js';
import { type FaultyCollector, startCollector } from './fixtures/collector.js';
import { app, arrayBuffers, counters, otlp, watch, within } from './fixtures/harness.js';

let collector: FaultyCollector;
before(async () => {
  collector = await startCollector();
});
after(() => collector.down());

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { k: value };
  return value;
}

/** Sets an attribute behind the SDK's back, as hostile code can: the attributes object is writable. */
function smuggle(span: Span, key: string, value: unknown): void {
  (span as unknown as { attributes: Record<string, unknown> }).attributes[key] = value;
}

/**
 * A root with five ended children and a lazily computed attribute whose
 * getter throws, read only when the span is encoded; the caller ends it.
 */
function rootWithThrowingAttribute(tracer: Tracer, name: string): Span {
  const root = tracer.startSpan(name);
  const ctx = trace.setSpan(context.active(), root);
  for (let i = 0; i < 5; i++) tracer.startSpan(`child ${i}`, {}, ctx).end();
  Object.defineProperty((root as unknown as { attributes: object }).attributes, 'lazy', {
    enumerable: true,
    get() {
      throw new Error('getter threw');
    },
  });
  return root;
}

/** Ways to make one hostile span, a child of `parent`. */
const HOSTILE: Record<string, (tracer: Tracer, parent: Span) => void> = {
  'ends at NaN': (tracer, parent) => child(tracer, parent, 'ends at NaN').end(NaN),
  'ends at Infinity': (tracer, parent) => child(tracer, parent, 'ends at Infinity').end(Infinity),
  'starts at NaN': (tracer, parent) => child(tracer, parent, 'starts at NaN', NaN).end(),
  'starts at -Infinity': (tracer, parent) =>
    child(tracer, parent, 'starts at -Infinity', -Infinity).end(),
  'starts before 1970': (tracer, parent) =>
    child(tracer, parent, 'starts before 1970', [-5, 0] as never).end(),
  'ends past uint64 nanoseconds': (tracer, parent) =>
    child(tracer, parent, 'ends past uint64 nanoseconds').end([1e30, 0]),
  'ends before it starts': (tracer, parent) =>
    child(tracer, parent, 'ends before it starts', Date.now()).end(Date.now() - 10_000),
  'ends a day ahead': (tracer, parent) =>
    child(tracer, parent, 'ends a day ahead').end(Date.now() + 86_400_000),
  'has an event at NaN': (tracer, parent) => {
    const span = child(tracer, parent, 'has an event at NaN');
    span.addEvent('tick', NaN);
    span.end();
  },
  'has an attribute nested 20000 deep': (tracer, parent) => {
    const span = child(tracer, parent, 'has an attribute nested 20000 deep');
    smuggle(span, 'deep', nested(20_000));
    span.setAttribute('fine', 'kept');
    span.end();
  },
  'has a cyclic attribute': (tracer, parent) => {
    const span = child(tracer, parent, 'has a cyclic attribute');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    smuggle(span, 'cycle', cycle);
    span.end();
  },
  'is ended twice': (tracer, parent) => {
    const span = child(tracer, parent, 'is ended twice');
    span.end();
    span.end();
  },
};

/** Runs `fn`, whose spans then go out of the test's scope: the test keeps no reference. */
function inScope(fn: () => void): void {
  fn();
}

function child(tracer: Tracer, parent: Span, name: string, startTime?: unknown): Span {
  const options = startTime === undefined ? {} : { startTime: startTime as number };
  return tracer.startSpan(name, options, trace.setSpan(context.active(), parent));
}

describe('hostile spans', () => {
  for (const [name, make] of Object.entries(HOSTILE)) {
    test(`a span that ${name} is exported, repaired, with every good span of its batch`, async () => {
      collector.spans.length = 0;
      collector.rejected.length = 0;
      const w = watch();
      const a = app({ exporter: otlp(collector.url), exportTimeoutMs: 5_000, minAgeMs: 60_000 });
      // Good spans first, in the same batch as the hostile one.
      for (let i = 0; i < 3; i++) a.trace(3, true);
      inScope(() => {
        const root = a.tracer.startSpan('root of the hostile span');
        make(a.tracer, root);
        root.end();
      });
      const snapshot = a.recorder.snapshot();
      await within(snapshot, 5_000, 'snapshot');
      const result = await snapshot;
      assert.deepEqual(collector.rejected, [], 'the collector accepted every request');
      assert.equal(result.spans, 11);
      assert.equal(collector.spans.length, 11, 'the good spans and the hostile one arrived');
      assert.ok(collector.names().includes(name));
      for (const span of collector.spans) {
        assert.ok(
          BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano),
          `${span.name}: ends before it starts`,
        );
      }
      assert.deepEqual(counters(a.recorder.stats()), {
        spansRecorded: 11,
        spansExported: 11,
        spansDropped: 0,
        exportFailures: 0,
        queuedSpans: 0,
      });
      await within(a.recorder.shutdown(), 1_000, 'shutdown');
      assert.equal(await a.reachable(), 0);
      w.check();
    });
  }

  test('a value nested too deep is dropped and counted; the rest of the span is kept', async () => {
    collector.spans.length = 0;
    const a = app({ exporter: otlp(collector.url), exportTimeoutMs: 5_000 });
    inScope(() => {
      const root = a.tracer.startSpan('root');
      HOSTILE['has an attribute nested 20000 deep']!(a.tracer, root);
      root.end();
    });
    await within(a.recorder.snapshot(), 5_000, 'snapshot');
    const span = collector.spans.find((s) => s.name === 'has an attribute nested 20000 deep')!;
    assert.equal(span.attributes.fine, 'kept');
    assert.equal(span.attributes.deep, undefined);
    assert.equal(span.droppedAttributesCount, 1);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
  });

  test('invalid ids are replaced by valid ones; the span keeps its valid parent', async () => {
    collector.spans.length = 0;
    collector.rejected.length = 0;
    const w = watch();
    let bad = false;
    const ids = {
      generateTraceId: () => (bad ? 'not a trace id' : randomBytes(16).toString('hex')),
      generateSpanId: () => (bad ? 'zz' : randomBytes(8).toString('hex')),
    };
    const a = app({ exporter: otlp(collector.url), exportTimeoutMs: 5_000 }, ids);
    a.trace(3, true);
    inScope(() => {
      const root = a.tracer.startSpan('good root');
      bad = true;
      child(a.tracer, root, 'bad span id').end();
      a.tracer.startSpan('bad trace id').end();
      bad = false;
      root.end();
    });
    await within(a.recorder.snapshot(), 5_000, 'snapshot');
    assert.deepEqual(collector.rejected, []);
    assert.equal(collector.spans.length, 6);
    const by = Object.fromEntries(collector.spans.map((s) => [s.name, s]));
    assert.equal(by['bad span id']!.parentSpanId, by['good root']!.spanId);
    assert.equal(by['bad span id']!.traceId, by['good root']!.traceId);
    assert.match(by['bad span id']!.spanId, /^[0-9a-f]{16}$/);
    assert.match(by['bad trace id']!.traceId, /^[0-9a-f]{32}$/);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('a span larger than maxBytes is dropped and counted, and evicts nothing else', async () => {
    collector.spans.length = 0;
    const w = watch();
    const a = app({ exporter: otlp(collector.url), exportTimeoutMs: 5_000, maxBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) a.trace(3, true);
    inScope(() => {
      const huge = a.tracer.startSpan('huge');
      huge.setAttribute('blob', 'x'.repeat(2 << 20));
      huge.end();
    });
    const stats = a.recorder.stats();
    assert.equal(stats.bufferedSpans, 30);
    assert.equal(stats.spansEvictedByBytes, 1);
    await within(a.recorder.snapshot(), 5_000, 'snapshot');
    assert.equal(collector.spans.length, 30);
    assert.equal(a.recorder.stats().spansRecorded, 31);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('a large span leaves no scratch buffer behind: the memory beside the ring stays small', async () => {
    const maxBytes = 4 << 20;
    const a = app({ exporter: otlp(collector.url), maxBytes, triggers: [] });
    // A ring with little free space ahead of its tail, so the large span is encoded aside.
    inScope(() => {
      for (let i = 0; a.recorder.stats().spansEvictedByBytes === 0; i++) {
        const fill = a.tracer.startSpan('fill');
        fill.setAttribute('payload', `${'p'.repeat(300)}${i}`);
        fill.end();
      }
    });
    const before = await arrayBuffers();
    const recorded = a.recorder.stats().spansRecorded;
    inScope(() => {
      const big = a.tracer.startSpan('big');
      big.setAttribute('body', 'x'.repeat(1_000_000));
      big.end();
    });
    assert.equal(a.recorder.stats().spansRecorded, recorded + 1);
    const grown = (await arrayBuffers()) - before;
    // The scratch buffer grew to 1 MiB for it; kept, it would stay for good.
    assert.ok(grown < 256 * 1024, `${(grown / 1024).toFixed(0)} KiB more array buffers`);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
  });

  for (const flushScope of ['window', 'trace'] as const) {
    test(`a failing root whose attributes throw as they are read: it alone is lost, its ${flushScope} flush goes out`, async () => {
      collector.spans.length = 0;
      const w = watch();
      const a = app({
        exporter: otlp(collector.url),
        exportTimeoutMs: 5_000,
        flushScope,
        exportDelayMs: 0,
      });
      // Ten finished requests, then the failing one's five children.
      for (let i = 0; i < 10; i++) a.trace(3, true);
      inScope(() => {
        const root = rootWithThrowingAttribute(a.tracer, 'failing request');
        root.setStatus({ code: 2 });
        root.end();
      });
      await within(a.recorder.forceFlush(), 5_000, 'forceFlush');
      const expected = flushScope === 'window' ? 35 : 5;
      assert.equal(collector.spans.length, expected, collector.names().join(', '));
      assert.ok(!collector.names().includes('failing request'));
      const stats = a.recorder.stats();
      assert.equal(stats.bufferedSpans, 35 - expected);
      assert.equal(stats.spansExported, expected);
      await within(a.recorder.shutdown(), 1_000, 'shutdown');
      w.check();
    });
  }

  test('a root that triggers nothing and whose attributes throw still closes its trace: its spans age out', async () => {
    const w = watch();
    const a = app({ exporter: otlp(collector.url), minAgeMs: 50 });
    inScope(() => {
      const root = rootWithThrowingAttribute(a.tracer, 'quiet request');
      // A quick request with status OK: nothing triggers.
      root.end();
    });
    // While its trace stayed open, its children were pinned past minAgeMs for good.
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.tracer.startSpan('later').end();
    const stats = a.recorder.stats();
    assert.equal(stats.bufferedSpans, 1, 'only the later span is held');
    assert.equal(stats.spansEvictedByAge, 5);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    w.check();
  });
});

describe("hostile times and the recorder's clock", () => {
  let t0: number;
  before(() => {
    t0 = Date.now();
    mock.timers.enable({ apis: ['Date'], now: t0 });
  });
  after(() => mock.timers.reset());

  test('a span ending at NaN does not stop age eviction', async () => {
    mock.timers.setTime(t0);
    const w = watch();
    const a = app({ exporter: otlp(collector.url), minAgeMs: 200, triggers: [] });
    a.tracer.startSpan('nan', { startTime: t0 }).end(NaN);
    for (let i = 0; i < 20; i++) a.tracer.startSpan(`s${i}`, { startTime: t0 }).end(t0 + 1);
    assert.equal(a.recorder.stats().bufferedSpans, 21);
    mock.timers.setTime(t0 + 600);
    const stats = a.recorder.stats();
    assert.equal(stats.bufferedSpans, 0, 'every span older than minAgeMs is gone');
    assert.equal(stats.spansEvictedByAge, 21);
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('a snapshot right after a span ending at NaN leaves window flushes on', async () => {
    mock.timers.setTime(t0);
    const w = watch();
    const flushes: FlushInfo[] = [];
    const a = app({
      exporter: otlp(collector.url),
      flushScope: 'window',
      minFlushIntervalMs: 1_000,
      onFlush: (f) => flushes.push(f),
    });
    a.tracer.startSpan('nan', { startTime: t0 }).end(NaN);
    await within(a.recorder.snapshot(), 5_000, 'snapshot');
    mock.timers.setTime(t0 + 2_000);
    a.trace(3, true);
    a.trace(3, false);
    assert.deepEqual(
      flushes.map((f) => [f.scope, f.spans]),
      [
        ['window', 1],
        ['window', 6],
      ],
    );
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });

  test('one span ending a day ahead neither empties the window nor stops age eviction', async () => {
    mock.timers.setTime(t0);
    const w = watch();
    const a = app({ exporter: otlp(collector.url), minAgeMs: 200, triggers: [] });
    for (let i = 0; i < 10; i++) a.tracer.startSpan(`s${i}`, { startTime: t0 }).end(t0 + 1);
    a.tracer.startSpan('ahead', { startTime: t0 }).end(t0 + 86_400_000);
    assert.equal(a.recorder.stats().bufferedSpans, 11, 'the window is still there');
    mock.timers.setTime(t0 + 600);
    assert.equal(a.recorder.stats().bufferedSpans, 0, 'and ages out as usual');
    await within(a.recorder.shutdown(), 1_000, 'shutdown');
    assert.equal(await a.reachable(), 0);
    w.check();
  });
});

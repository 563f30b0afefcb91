import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ContributorFlush } from '../src/flush/contributors.js';
import {
  FlightRecorderSpanProcessor,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import type { TriggerDecision, TriggerPolicy } from '../src/trigger/trigger-policy.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag, fail, makeTracing, names, traceIdOf } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;
beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T0 }));
afterEach(() => mock.timers.reset());

function setup() {
  const exporter = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({ exporter, flushScope: 'trace' });
  return { exporter, recorder, ...makeTracing(recorder) };
}

/** A policy that answers `decision` to every error root, remembering what it was asked. */
function policy(decision: TriggerDecision): TriggerPolicy & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    reason: (span, root) => (root && span.status.code === 2 ? 'error' : undefined),
    decide: (reason, traceId) => {
      asked.push(`${reason} ${traceId}`);
      return decision;
    },
  };
}

test('a trigger policy that suppresses leaves the trace in the ring; one that defers flushes it later through the host', async () => {
  for (const decision of ['suppress', 'defer'] as const) {
    const t = setup();
    const p = policy(decision);
    t.recorder._policy = p;
    const root = fail(t.start('POST /pay', T0));
    t.start('charge', T0, root).end(T0 + 1);
    root.end(T0 + 2);
    await t.recorder.forceFlush();
    assert.deepEqual(p.asked, [`error ${traceIdOf(root)}`]);
    assert.equal(t.exporter.spans.length, 0, decision);
    assert.deepEqual(names(t.recorder._windowSpans()), ['POST /pay', 'charge']);
    if (decision === 'defer') {
      assert.equal(t.recorder._host.flushTrace(traceIdOf(root), 'error'), true);
      await t.recorder.forceFlush();
      assert.deepEqual(names(t.exporter.spans), ['POST /pay', 'charge']);
      assert.ok(t.exporter.spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'error'));
      assert.equal(t.recorder._host.flushTrace(traceIdOf(root), 'error'), false, 'nothing left');
    }
    await t.recorder.shutdown();
  }
});

test('the host flushes a trace the policy never deferred, from what its closed hops left in the ring', async () => {
  const t = setup();
  t.recorder._policy = policy('suppress');
  const root = t.start('GET /a', T0);
  t.start('db', T0, root).end(T0 + 1);
  root.end(T0 + 2);
  assert.equal(t.recorder._host.flushTrace(traceIdOf(root), 'error'), true);
  await t.recorder.forceFlush();
  assert.deepEqual(names(t.exporter.spans), ['GET /a', 'db']);
  assert.equal(t.recorder._host.flushTrace(traceIdOf(root), 'error'), false, 'nothing left');
  await t.recorder.shutdown();
});

test('flush contributors see the spans leaving and add spans exported with the same marks; a throw stays inside', async () => {
  const diagnostics = captureDiag();
  try {
    const t = setup();
    const seen: ContributorFlush[] = [];
    let extra: ReadableSpan | undefined;
    t.recorder._contributors.push(
      {
        contribute: () => {
          throw new Error('contributor bug');
        },
      },
      {
        contribute: (flush) => {
          seen.push(flush);
          return extra === undefined ? undefined : [extra];
        },
      },
    );
    // A span made elsewhere, such as a runtime event, to be added to the flush.
    const other = makeTracing({
      onStart() {},
      onEnd: (span) => {
        extra = span;
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    });
    other.start('gc pause', T0).end(T0 + 1);
    const root = fail(t.start('GET /slow', T0));
    const child = t.start('db', T0, root);
    child.end(T0 + 5);
    root.end(T0 + 10);
    await t.recorder.forceFlush();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.scope, 'trace');
    assert.equal(seen[0]!.trigger, 'error');
    assert.deepEqual(
      seen[0]!.spans.map((s) => [s.spanId, s.parentSpanId, s.endMs - s.startMs]).sort(),
      [
        [child.spanContext().spanId, root.spanContext().spanId, 5],
        [root.spanContext().spanId, undefined, 10],
      ].sort(),
    );
    assert.deepEqual(names(t.exporter.spans), ['GET /slow', 'db', 'gc pause']);
    const ids = new Set(t.exporter.spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE]));
    assert.deepEqual([...ids], [seen[0]!.snapshotId]);
    assert.equal(diagnostics.messages.filter((m) => /contributor/.test(m.message)).length, 1);
    await t.recorder.shutdown();
  } finally {
    diagnostics.restore();
  }
});

/**
 * Three services as separate Node processes, A calls B calls C over real
 * HTTP with W3C trace-context (the demo program, each with its own
 * DEMO_DOWNSTREAM), each with its own recorder exporting to one loopback
 * OTLP receiver, coordinated through a real Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_TRIGGER_ATTRIBUTE,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/marks.js';
import { type ManagedProcess, tailLog, waitUntil } from './e2e/processes.js';
import { type ReceivedSpan, startOtlpReceiver } from './helpers/otlp-receiver.js';
import { type RedisServer, skipWithoutRedis, startRedis } from './helpers/redis-server.js';
import { CHAIN, type ServiceChain, startServiceChain } from './helpers/service-chain.js';
import { tempDir } from './helpers/temp-dir.js';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

describe(
  'coordination across three processes',
  { skip: skipWithoutRedis(), timeout: 400_000 },
  () => {
    let redis: RedisServer;
    let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
    let chain: ServiceChain;
    let processes: readonly ManagedProcess[] = [];

    before(async () => {
      redis = await startRedis();
      receiver = await startOtlpReceiver();
      chain = await startServiceChain({
        redisUrl: redis.url,
        otlpEndpoint: receiver.base,
        dir: tempDir('fr-chain-'),
      });
      processes = chain.processes;
    });

    after(async () => {
      await chain?.stop();
      await receiver?.close();
      await redis?.stop();
    });

    /** GETs A's /chain in trace `traceId` (our traceparent), so the test knows each request's trace. */
    async function request(traceId: string, query = ''): Promise<void> {
      assert.equal(await chain.request(traceId, query), 200);
    }

    const spansOf = (traceId: string): ReceivedSpan[] =>
      receiver.spans.filter((s) => s.traceId === traceId);
    const fromService = (spans: ReceivedSpan[], name: string) =>
      spans.filter((s) => s.resource['service.name'] === name);

    test('a slow root in A yields B’s and C’s spans of that trace with the same snapshot id; their other traces do not arrive', async () => {
      try {
        const fast = Array.from({ length: 5 }, () => randomBytes(16).toString('hex'));
        const slow = Array.from({ length: 10 }, () => randomBytes(16).toString('hex'));
        for (const t of fast) await request(t);
        for (const t of slow) await request(t, '?slow=1200');
        const latencies: number[] = [];
        for (const t of slow) {
          await waitUntil(
            `all three services' spans of ${t}`,
            async () => CHAIN.every((name) => fromService(spansOf(t), name).length >= 2),
            { timeoutMs: 20_000, intervalMs: 50, processes },
          );
          const spans = spansOf(t);
          const a = fromService(spans, 'svc-a');
          const snapshot = a[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE];
          assert.ok(typeof snapshot === 'string' && snapshot !== '');
          for (const s of spans) {
            assert.equal(
              s.attributes[SNAPSHOT_ID_ATTRIBUTE],
              snapshot,
              `${s.name} of ${s.resource['service.name']}`,
            );
            assert.equal(s.attributes[TRIGGER_ATTRIBUTE], 'latency');
            const remote = s.resource['service.name'] !== 'svc-a';
            assert.equal(s.attributes[REMOTE_TRIGGER_ATTRIBUTE], remote ? true : undefined, s.name);
          }
          // Trigger: A's root ending (the last of A's spans to end). Arrival: the
          // request that brought B's or C's spans.
          const trigger = Math.max(
            ...a.map((s) => Number(BigInt(s.endTimeUnixNano!) / 1_000_000n)),
          );
          for (const name of ['svc-b', 'svc-c']) {
            const arrived = Math.min(...fromService(spans, name).map((s) => s.receivedAt));
            latencies.push(arrived - trigger);
          }
        }
        const m = median(latencies);
        const max = Math.max(...latencies);
        console.log(
          `# trigger-to-arrival at the receiver, B and C, ${latencies.length} samples: median ${m} ms, max ${max} ms`,
        );
        assert.ok(m <= 1_000, `median ${m} ms`);
        // Let anything that would wrongly go out go out.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        for (const t of fast) {
          const spans = spansOf(t);
          // Unless the front itself triggered on it (a loaded machine can make any request slow).
          if (fromService(spans, 'svc-a').length > 0) continue;
          assert.deepEqual(spans, [], 'a fast trace stays in every ring');
        }
        // And whatever B and C exported belongs to a trace some service triggered on.
        for (const s of receiver.spans) {
          if (s.attributes[REMOTE_TRIGGER_ATTRIBUTE] !== true) continue;
          const origin = receiver.spans.find(
            (o) =>
              o.traceId === s.traceId &&
              o.attributes[REMOTE_TRIGGER_ATTRIBUTE] === undefined &&
              o.attributes[SNAPSHOT_ID_ATTRIBUTE] === s.attributes[SNAPSHOT_ID_ATTRIBUTE],
          );
          assert.ok(origin, `${s.name} of ${s.resource['service.name']} was kept by a trigger`);
        }
      } catch (error) {
        for (const p of processes) console.error(tailLog(p, 30));
        throw error;
      }
    });

    test('Redis killed mid-run: A still flushes its own slow trace, and every service warns once', async () => {
      await redis.kill();
      const t = randomBytes(16).toString('hex');
      await request(t, '?slow=1200');
      await waitUntil('A’s own spans', async () => fromService(spansOf(t), 'svc-a').length >= 2, {
        timeoutMs: 20_000,
        processes,
      });
      // A request after the outage still works end to end.
      await request(randomBytes(16).toString('hex'));
      for (const p of processes) {
        await waitUntil(
          `${p.name}'s warning`,
          async () => tailLog(p, 500).includes('cannot reach Redis'),
          {
            timeoutMs: 20_000,
            processes,
          },
        );
        const warnings = tailLog(p, 500)
          .split('\n')
          .filter((l) => l.includes('cannot reach Redis'));
        assert.equal(warnings.length, 1, tailLog(p, 40));
      }
    });
  },
);

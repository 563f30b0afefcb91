/**
 * End to end, coordination: the three demo services of docker-compose.yml
 * (same program, three roles, A calls B calls C) as local processes, with a
 * real Redis, exporting through collector-config.yaml to the real Jaeger. A
 * slow request in the front service must show in Jaeger as one trace with
 * all three services. Run with `npm run test:e2e`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { REMOTE_TRIGGER_ATTRIBUTE, SNAPSHOT_ID_ATTRIBUTE } from '../../src/index.js';
import { type RedisServer, skipWithoutRedis, startRedis } from '../helpers/redis-server.js';
import { type ServiceChain, startServiceChain } from '../helpers/service-chain.js';
import {
  type Collector,
  ensureJaegerBinary,
  type JaegerBackend,
  REPO_ROOT,
  startCollector,
  startJaegerBackend,
} from './jaeger.js';
import { JaegerQuery, type JaegerTrace, tag } from './jaeger-query.js';
import { stopProcess, tailLog, waitUntil } from './processes.js';

const logDir = mkdtempSync(join(tmpdir(), 'flight-recorder-e2e-coordination-'));
const jaeger = await ensureJaegerBinary(join(logDir, 'build-jaeger.log'));

/** The service names docker-compose.yml gives the three roles, front first, and their targets. */
function fromCompose(): {
  names: [string, string, string];
  targets: 'broadcast' | 'breadcrumbs';
} {
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { environment?: Record<string, string> }>;
  };
  const envs = ['demo', 'demo-middle', 'demo-backend'].map(
    (s) => compose.services[s]?.environment ?? {},
  );
  const names = envs.map((e, i) => e.OTEL_SERVICE_NAME ?? `svc-${i}`) as [string, string, string];
  const targets =
    envs[0]!.FLIGHT_RECORDER_REDIS_TARGETS === 'breadcrumbs' ? 'breadcrumbs' : 'broadcast';
  return { names, targets };
}

if (jaeger.kind === 'no-go') {
  if (process.env.CI === 'true') {
    test('the coordination end-to-end test can run', () => assert.fail(jaeger.message));
  } else {
    test('the coordination end-to-end test', { skip: jaeger.message }, () => {});
  }
} else {
  const binary = jaeger.path;
  describe(
    'coordination: three services → collector-config.yaml → Jaeger',
    { skip: skipWithoutRedis(), timeout: 400_000 },
    () => {
      let backend: JaegerBackend | undefined;
      let collector: Collector | undefined;
      let redis: RedisServer | undefined;
      let chain: ServiceChain | undefined;
      let failed = false;
      const { names, targets } = fromCompose();

      before(async () => {
        backend = await startJaegerBackend(binary, join(logDir, 'jaeger.log'));
        collector = await startCollector(
          binary,
          backend.otlpGrpcEndpoint,
          join(logDir, 'collector.log'),
        );
        redis = await startRedis();
        chain = await startServiceChain({
          redisUrl: redis.url,
          otlpEndpoint: collector.otlpHttpUrl,
          dir: logDir,
          names,
          targets,
        });
      });

      after(async () => {
        const processes = [...(chain?.processes ?? []), collector?.process, backend?.process];
        if (failed) for (const p of processes) if (p) console.error(tailLog(p));
        await chain?.stop();
        await Promise.all(processes.map((p) => (p ? stopProcess(p) : undefined)));
        await redis?.stop();
        if (failed) console.error(`logs kept in ${logDir}`);
        else rmSync(logDir, { recursive: true, force: true });
      });

      test('/api/traces/{id} shows all three services in one trace, under one snapshot id', async () => {
        try {
          const query = new JaegerQuery(backend!.queryUrl);
          const slow = randomBytes(16).toString('hex');
          const fast = randomBytes(16).toString('hex');
          assert.equal(await chain!.request(fast), 200);
          assert.equal(await chain!.request(slow, '?slow=1200'), 200);
          let trace: JaegerTrace | undefined;
          const servicesOf = (t: JaegerTrace | undefined) =>
            new Set(t?.spans.map((s) => t.processes[s.processID]?.serviceName));
          await waitUntil(
            'the slow trace with three services in Jaeger',
            async () => {
              trace = await query.getTrace(slow);
              return servicesOf(trace).size === 3;
            },
            {
              timeoutMs: 60_000,
              processes: [...chain!.processes, collector!.process, backend!.process],
            },
          );
          assert.deepEqual([...servicesOf(trace)].sort(), [...names].sort());
          const snapshots = new Set(trace!.spans.map((s) => tag(s, SNAPSHOT_ID_ATTRIBUTE)));
          assert.equal(snapshots.size, 1, [...snapshots].join());
          for (const s of trace!.spans) {
            const remote = trace!.processes[s.processID]?.serviceName !== names[0];
            assert.equal(
              tag(s, REMOTE_TRIGGER_ATTRIBUTE),
              remote ? true : undefined,
              s.operationName,
            );
          }
          assert.equal(await query.getTrace(fast), undefined, 'the fast trace stayed in the rings');
        } catch (error) {
          failed = true;
          throw error;
        }
      });
    },
  );
}

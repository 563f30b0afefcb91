/**
 * Docker cannot run in CI, so this checks what can go wrong in
 * docker-compose.yml and collector-config.yaml without it: pinned images,
 * the mounted config, ports and the wiring between services. The
 * end-to-end test (`npm run test:e2e`) runs collector-config.yaml for real.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  volumes?: string[];
  environment?: Record<string, string> | string[];
  ports?: string[];
  expose?: string[];
  depends_on?: string[] | Record<string, unknown>;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const collectorConfig = parse(readFileSync(join(root, 'collector-config.yaml'), 'utf8')) as {
  receivers: Record<string, { protocols: Record<string, { endpoint: string }> }>;
  processors: Record<string, unknown>;
  exporters: Record<string, { endpoint: string; tls?: { insecure?: boolean } }>;
  extensions?: Record<string, unknown>;
  service: {
    extensions?: string[];
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
};

function service(name: string): ComposeService {
  const s = compose.services[name];
  assert.ok(s, `service ${name} exists`);
  return s;
}

function env(s: ComposeService): Record<string, string> {
  const e = s.environment ?? {};
  if (!Array.isArray(e)) return e;
  return Object.fromEntries(
    e.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The container ports a service publishes, keyed by container port. */
function published(s: ComposeService): Map<string, string> {
  return new Map(
    (s.ports ?? []).map((p) => {
      const parts = String(p).split(':');
      return [parts.at(-1)!, parts.at(-2) ?? ''];
    }),
  );
}

/** The `${env:NAME:-default}` reference of a collector config value. */
function envReference(value: string): { name: string; fallback: string } | undefined {
  const match = /^\$\{env:([A-Z_][A-Z0-9_]*):-([^}]*)\}$/.exec(value);
  return match === null ? undefined : { name: match[1]!, fallback: match[2]! };
}

describe('docker-compose.yml', () => {
  test('runs jaeger, collector, redis and a chain of three demo services', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'collector',
      'demo',
      'demo-backend',
      'demo-middle',
      'jaeger',
      'redis',
    ]);
  });

  test('pins Redis to a release, without persistence', () => {
    const redis = service('redis');
    assert.match(redis.image ?? '', /^redis:\d+\.\d+\.\d+(-alpine)?$/);
    assert.deepEqual(redis.command, ['redis-server', '--save', '', '--appendonly', 'no']);
    assert.ok(redis.expose?.includes('6379'));
    assert.equal(redis.ports, undefined, 'Redis is not published: it has no password');
  });

  test('the demo services are one image in three roles: each calls the next and coordinates over redis', () => {
    const chain = ['demo', 'demo-middle', 'demo-backend'];
    const names = new Set<string>();
    chain.forEach((name, i) => {
      const s = service(name);
      assert.deepEqual(s.build, { context: '.', dockerfile: 'Dockerfile' }, name);
      const e = env(s);
      assert.equal(e.FLIGHT_RECORDER_REDIS_URL, 'redis://redis:6379', name);
      assert.equal(e.FLIGHT_RECORDER_REDIS_TARGETS, 'breadcrumbs', name);
      assert.equal(e.PORT, '8080');
      names.add(e.OTEL_SERVICE_NAME ?? '');
      const next = chain[i + 1];
      const needs = ['collector', 'redis', ...(next === undefined ? [] : [next])];
      assert.deepEqual(s.depends_on, needs, name);
      if (next === undefined) assert.equal(e.DEMO_DOWNSTREAM, undefined);
      else {
        assert.equal(e.DEMO_DOWNSTREAM, `http://${next}:8080`, name);
        assert.ok(service(next).expose?.includes('8080'), `${next} is reachable`);
      }
      // Only the front runs the built-in load; the others serve what calls them.
      assert.equal(e.DEMO_LOAD, i === 0 ? undefined : 'off', name);
    });
    assert.equal(names.size, 3, 'three service names');
  });

  test('pins Jaeger to a 2.x release and the contrib collector to a release', () => {
    assert.match(service('jaeger').image ?? '', /^jaegertracing\/jaeger:2\.\d+\.\d+$/);
    assert.match(
      service('collector').image ?? '',
      /^otel\/opentelemetry-collector-contrib:0\.\d+\.\d+$/,
    );
  });

  test('publishes ports on 127.0.0.1 only', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const port of s.ports ?? []) {
        assert.match(String(port), /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port}`);
      }
    }
  });

  test('jaeger uses its built-in in-memory configuration and serves the UI on 16686', () => {
    const jaeger = service('jaeger');
    assert.equal(jaeger.command, undefined, 'no --config: the all-in-one memory configuration');
    assert.equal(published(jaeger).get('16686'), '16686');
    assert.ok(jaeger.expose?.includes('4317'), 'OTLP gRPC reachable from the collector');
  });

  test('collector mounts the very collector-config.yaml and runs it', () => {
    const collector = service('collector');
    const mounts = (collector.volumes ?? []).map((v) => v.split(':'));
    const mount = mounts.find(([source]) => source === './collector-config.yaml');
    assert.ok(mount, 'collector-config.yaml is mounted');
    assert.ok(existsSync(join(root, 'collector-config.yaml')));
    assert.equal(mount[2], 'ro');
    const command = [collector.command ?? []].flat().join(' ');
    assert.match(command, new RegExp(`--config[= ]${mount[1]}(\\s|$)`));
  });

  test('collector publishes OTLP gRPC and HTTP on the ports its config listens on', () => {
    const ports = published(service('collector'));
    const protocols = collectorConfig.receivers.otlp?.protocols ?? {};
    assert.equal(protocols.grpc?.endpoint, '0.0.0.0:4317');
    assert.equal(protocols.http?.endpoint, '0.0.0.0:4318');
    assert.equal(ports.get('4317'), '4317');
    assert.equal(ports.get('4318'), '4318');
  });

  test("collector exports to jaeger's OTLP gRPC port", () => {
    const exporter = collectorConfig.exporters['otlp/jaeger'];
    assert.ok(exporter, 'otlp/jaeger exporter');
    const ref = envReference(exporter.endpoint);
    assert.deepEqual(ref, { name: 'JAEGER_OTLP_ENDPOINT', fallback: 'jaeger:4317' });
    assert.equal(env(service('collector'))[ref.name], 'jaeger:4317');
    assert.deepEqual(service('collector').depends_on, ['jaeger']);
  });

  test('demo is built from the top-level Dockerfile and exports to the collector', () => {
    const demo = service('demo');
    assert.deepEqual(demo.build, { context: '.', dockerfile: 'Dockerfile' });
    const e = env(demo);
    const endpoint = new URL(e.OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
    assert.equal(endpoint.protocol, 'http:');
    assert.equal(endpoint.hostname, 'collector');
    assert.equal(endpoint.port, '4318', 'OTLP/HTTP');
    assert.ok((e.OTEL_SERVICE_NAME ?? '') !== '', 'OTEL_SERVICE_NAME is set');
    assert.ok(Array.isArray(demo.depends_on) && demo.depends_on.includes('collector'));
  });
});

describe('collector-config.yaml', () => {
  test('uses only components both collector-contrib and Jaeger v2 ship', () => {
    const traces = collectorConfig.service.pipelines.traces;
    assert.ok(traces, 'a traces pipeline');
    assert.deepEqual(Object.keys(collectorConfig.service.pipelines), ['traces', 'logs']);
    assert.deepEqual(traces.receivers, ['otlp']);
    // memory_limiter first, so it refuses data before anything else holds it.
    assert.deepEqual(traces.processors, ['memory_limiter', 'batch']);
    assert.deepEqual(traces.exporters, ['otlp/jaeger']);
    // Jaeger stores no OTLP logs: the recorder's log records are printed (debug, in both).
    const logs = collectorConfig.service.pipelines.logs;
    assert.ok(logs, "a logs pipeline, so the recorder's /v1/logs requests are accepted");
    assert.deepEqual(logs.receivers, ['otlp']);
    assert.deepEqual(logs.processors, ['memory_limiter', 'batch']);
    assert.deepEqual(logs.exporters, ['debug']);
    // Jaeger has healthcheckv2, not health_check, so there are no extensions.
    assert.equal(collectorConfig.extensions, undefined);
    assert.equal(collectorConfig.service.extensions, undefined);
  });

  test('exports to Jaeger with TLS off', () => {
    assert.equal(collectorConfig.exporters['otlp/jaeger']?.tls?.insecure, true);
  });
});

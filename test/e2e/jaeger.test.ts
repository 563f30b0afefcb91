/**
 * End to end: FlightRecorderSpanProcessor → OTLP/HTTP → collector-config.yaml
 * (run by the jaeger binary as a collector) → Jaeger v2 (all-in-one config,
 * in memory) → Jaeger's query API. The same programs docker-compose.yml runs,
 * as local processes on loopback ports. Run with `npm run test:e2e`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../../src/index.js';
import {
  COLLECTOR_CONFIG,
  type Collector,
  ensureJaegerBinary,
  type JaegerBackend,
  startCollector,
  startJaegerBackend,
  validateConfig,
} from './jaeger.js';
import {
  JaegerQuery,
  type JaegerSpan,
  type JaegerTrace,
  normalizeId,
  parentOf,
  tag,
} from './jaeger-query.js';
import { stopProcess, tailLog, waitUntil } from './processes.js';
import {
  type ExpectedTrace,
  runFileScenario,
  runScenario,
  type ScenarioResult,
} from './scenario.js';

/** How long exported spans may take to pass the collector's batch processor and be stored. */
const ARRIVAL_TIMEOUT_MS = 30_000;

const logDir = mkdtempSync(join(tmpdir(), 'flight-recorder-e2e-'));
const buildLog = join(logDir, 'build-jaeger.log');

let jaeger: Awaited<ReturnType<typeof ensureJaegerBinary>>;
try {
  jaeger = await ensureJaegerBinary(buildLog);
} catch (error) {
  let log = '';
  try {
    log = readFileSync(buildLog, 'utf8').trimEnd().split('\n').slice(-60).join('\n');
  } catch {}
  console.error(`----- build-jaeger.sh log (last 60 lines) -----\n${log}`);
  throw error;
}

if (jaeger.kind === 'no-go') {
  const { message } = jaeger;
  rmSync(logDir, { recursive: true, force: true });
  if (process.env.CI === 'true') {
    test('the Jaeger end-to-end test can run', () => {
      assert.fail(`${message} CI=true requires this test to run.`);
    });
  } else {
    test('the Jaeger end-to-end test', { skip: message }, () => {});
  }
} else {
  const binary = jaeger.path;
  console.log(`jaeger binary: ${binary} (ready in ${jaeger.buildMs} ms); logs in ${logDir}`);
  describeEndToEnd(binary);
}

function describeEndToEnd(binary: string): void {
  describe('FlightRecorderSpanProcessor → collector-config.yaml → Jaeger', () => {
    let backend: JaegerBackend | undefined;
    let collector: Collector | undefined;
    let query: JaegerQuery;
    let scenario: ScenarioResult;
    /** Every stored trace of the scenario's service once all exported spans arrived. */
    let stored: Map<string, JaegerTrace>;
    let failed = false;
    /** What `jaeger validate` printed for collector-config.yaml. */
    let validation: string | undefined;

    /** A test whose failure prints the processes' logs at the end. */
    function it(name: string, fn: () => Promise<void> | void): void {
      test(name, async () => {
        try {
          await fn();
        } catch (error) {
          failed = true;
          throw error;
        }
      });
    }

    before(
      async () => {
        try {
          // Fails fast, with Jaeger's own words, on a config the collector would refuse.
          validation = await validateConfig(binary, COLLECTOR_CONFIG);
          const started = Date.now();
          backend = await startJaegerBackend(binary, join(logDir, 'jaeger.log'));
          collector = await startCollector(
            binary,
            backend.otlpGrpcEndpoint,
            join(logDir, 'collector.log'),
          );
          console.log(`jaeger and collector up in ${Date.now() - started} ms`);
          query = new JaegerQuery(backend.queryUrl);
          const scenarioStarted = Date.now();
          scenario = await runScenario(collector.otlpHttpUrl);
          const arrivalStarted = Date.now();
          console.log(`scenario ran and exported in ${arrivalStarted - scenarioStarted} ms`);
          const expectedSpans = exportedTraces(scenario).reduce((n, t) => n + t.spans.length, 0);
          stored = new Map();
          try {
            await waitUntil(
              `${expectedSpans} spans of ${scenario.serviceName} in Jaeger`,
              async () => {
                const traces = await query.findTraces(scenario.serviceName);
                stored = new Map(traces.map((t) => [normalizeId(t.traceID, 32), t]));
                return traces.reduce((n, t) => n + t.spans.length, 0) >= expectedSpans;
              },
              { timeoutMs: ARRIVAL_TIMEOUT_MS, processes: [backend.process, collector.process] },
            );
            console.log(
              `Jaeger stored every exported span within ${Date.now() - arrivalStarted} ms`,
            );
          } catch (error) {
            // The tests below say what is missing.
            console.error(String(error));
          }
        } catch (error) {
          failed = true;
          throw error;
        }
      },
      { timeout: 120_000 },
    );

    after(async () => {
      const processes = [collector?.process, backend?.process].filter((p) => p !== undefined);
      if (failed) for (const p of processes) console.error(tailLog(p));
      const stopping = Date.now();
      await Promise.all(processes.map((p) => stopProcess(p)));
      console.log(`processes stopped in ${Date.now() - stopping} ms`);
      // Logs are kept, and named above, only when something failed.
      if (failed) console.error(`logs kept in ${logDir}`);
      else rmSync(logDir, { recursive: true, force: true });
    });

    it('collector-config.yaml passes `jaeger validate` before the collector runs it', () => {
      assert.equal(typeof validation, 'string');
    });

    it('the recorder flushes the window on latency, then the failing trace alone', () => {
      const [first, second] = scenario.flushes;
      assert.ok(first !== undefined && second !== undefined, 'two flushes');
      assert.equal(scenario.flushes.length, 2);
      assert.deepEqual(
        {
          trigger: first.trigger,
          scope: first.scope,
          traceId: first.traceId,
          traces: first.traces,
        },
        { trigger: 'latency', scope: 'window', traceId: scenario.slow.traceId, traces: 4 },
      );
      assert.deepEqual(
        {
          trigger: second.trigger,
          scope: second.scope,
          traceId: second.traceId,
          traces: second.traces,
        },
        { trigger: 'error', scope: 'trace', traceId: scenario.failed.traceId, traces: 1 },
      );
      const exported = exportedTraces(scenario).reduce((n, t) => n + t.spans.length, 0);
      assert.equal(scenario.stats.spansExported, exported, 'every flushed span was accepted');
      assert.equal(scenario.stats.spansLate, 1);
      assert.equal(scenario.stats.spansDropped, 0);
      assert.equal(scenario.stats.exportFailures, 0);
    });

    it('the slow trace arrives complete, with its parent links and the latency marks', () => {
      const flush = scenario.flushes[0]!;
      assertStoredComplete(
        stored,
        scenario.serviceName,
        scenario.slow,
        flush.snapshotId,
        'latency',
      );
    });

    it("the failing request's DEBUG lines are logs on its spans, in time order, with severity; they went to OTLP logs too", () => {
      const t = stored.get(scenario.failed.traceId);
      assert.ok(t, 'failing trace stored');
      for (const spanId of new Set(scenario.debugLines.map((l) => l.spanId))) {
        const span: JaegerSpan | undefined = t.spans.find(
          (s) => normalizeId(s.spanID, 16) === spanId,
        );
        assert.ok(span, `span ${spanId} stored`);
        const lines: JaegerSpan['logs'] = span.logs.filter((l) =>
          l.fields.some((f) => f.key === 'log.severity'),
        );
        const expected = scenario.debugLines.filter((l) => l.spanId === spanId);
        assert.deepEqual(
          lines.map((l) => [
            l.fields.find((f) => f.key === 'event')?.value,
            l.fields.find((f) => f.key === 'log.severity')?.value,
            Math.round(l.timestamp / 1000),
          ]),
          expected.map((l) => [l.body, 'DEBUG', l.timeMs]),
        );
      }
      assert.equal(scenario.stats.logsAsSpanEvents, scenario.debugLines.length);
      assert.equal(scenario.stats.logsExported, scenario.debugLines.length);
      assert.equal(scenario.stats.logsDropped, 0);
    });

    it("the late child arrives with its flush's marks", () => {
      const t = stored.get(scenario.slow.traceId);
      assert.ok(t, 'slow trace stored');
      const span = t.spans.find((s) => normalizeId(s.spanID, 16) === scenario.lateChild.spanId);
      assert.ok(span, `late child ${scenario.lateChild.name} stored`);
      assert.equal(parentOf(span), scenario.lateChild.parentSpanId);
      assert.equal(tag(span, SNAPSHOT_ID_ATTRIBUTE), scenario.flushes[0]!.snapshotId);
      assert.equal(tag(span, TRIGGER_ATTRIBUTE), 'latency');
    });

    it('the failed trace arrives complete, with the error shown the way Jaeger shows it', () => {
      const flush = scenario.flushes[1]!;
      assertStoredComplete(
        stored,
        scenario.serviceName,
        scenario.failed,
        flush.snapshotId,
        'error',
      );
      const t = stored.get(scenario.failed.traceId)!;
      for (const name of ['POST /checkout', 'payment.charge']) {
        const span = t.spans.find((s) => s.operationName === name);
        assert.ok(span, name);
        // The Jaeger UI marks a span red when it carries error=true.
        assert.equal(tag(span, 'error'), true, `${name} error tag`);
        assert.equal(tag(span, 'otel.status_code'), 'ERROR', `${name} status code`);
        assert.equal(tag(span, 'otel.status_description'), scenario.errorMessage);
        const exception = span.logs.find((l) =>
          l.fields.some((f) => f.key === 'event' && f.value === 'exception'),
        );
        assert.ok(exception, `${name} has the recorded exception as a log`);
        const message = exception.fields.find((f) => f.key === 'exception.message');
        assert.equal(message?.value, scenario.errorMessage);
      }
      const validate = t.spans.find((s) => s.operationName === 'validate');
      assert.equal(validate && tag(validate, 'error'), undefined, 'a healthy child is not marked');
    });

    it("the window's other traces carry the slow trace's snapshot id", async () => {
      const flush = scenario.flushes[0]!;
      for (const expected of scenario.windowTraces) {
        assertStoredComplete(stored, scenario.serviceName, expected, flush.snapshotId, 'latency');
      }
      // What a user does in the UI: search by the tag.
      const found = await query.findTraces(scenario.serviceName, {
        [SNAPSHOT_ID_ATTRIBUTE]: flush.snapshotId,
      });
      assert.deepEqual(
        ids(found),
        sorted([...scenario.windowTraces, scenario.slow].map((t) => t.traceId)),
      );
      const second = await query.findTraces(scenario.serviceName, {
        [SNAPSHOT_ID_ATTRIBUTE]: scenario.flushes[1]!.snapshotId,
      });
      assert.deepEqual(ids(second), [scenario.failed.traceId]);
    });

    it('a snapshot file from FileSpanExporter, POSTed as curl does, shows in Jaeger', async () => {
      const directory = join(logDir, 'snapshots');
      mkdirSync(directory);
      const file = await runFileScenario(directory);
      assert.equal(file.writes.length, 1, 'one file for one flush');
      const [write] = file.writes;
      assert.ok(write?.path !== undefined, `written: ${write?.error}`);
      // `curl -X POST -H 'Content-Type: application/json' --data-binary @file.json .../v1/traces`
      const response = await fetch(`${collector!.otlpHttpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: readFileSync(write.path),
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(response.status, 200, await response.text());
      const expected = [file.window, file.slow];
      const spans = expected.reduce((n, t) => n + t.spans.length, 0);
      let found = new Map<string, JaegerTrace>();
      await waitUntil(
        `${spans} spans of ${file.serviceName} in Jaeger`,
        async () => {
          const traces = await query.findTraces(file.serviceName);
          found = new Map(traces.map((t) => [normalizeId(t.traceID, 32), t]));
          return traces.reduce((n, t) => n + t.spans.length, 0) >= spans;
        },
        { timeoutMs: ARRIVAL_TIMEOUT_MS },
      );
      for (const t of expected) {
        assertStoredComplete(found, file.serviceName, t, file.flush.snapshotId, 'latency');
      }
    });

    it('fast traces outside every window never arrive', async () => {
      assert.deepEqual(
        sorted([...stored.keys()]),
        sorted(exportedTraces(scenario).map((t) => t.traceId)),
        'the service has exactly the flushed traces',
      );
      for (const expected of scenario.unflushed) {
        assert.equal(
          await query.getTrace(expected.traceId),
          undefined,
          `${expected.label} is not in Jaeger`,
        );
      }
    });
  });
}

/** The traces the recorder should have exported: the window, the slow and the failed one. */
function exportedTraces(s: ScenarioResult): ExpectedTrace[] {
  return [...s.windowTraces, s.slow, s.failed];
}

function sorted(values: string[]): string[] {
  return [...values].sort();
}

function ids(traces: JaegerTrace[]): string[] {
  return sorted(traces.map((t) => normalizeId(t.traceID, 32)));
}

/**
 * The stored trace has exactly the expected spans, each with its name, its
 * parent, the service name and the flush's marks.
 */
function assertStoredComplete(
  stored: Map<string, JaegerTrace>,
  serviceName: string,
  expected: ExpectedTrace,
  snapshotId: string,
  trigger: string,
): void {
  const t = stored.get(expected.traceId);
  assert.ok(t, `${expected.label} trace ${expected.traceId} is in Jaeger`);
  const byId = new Map<string, JaegerSpan>(t.spans.map((s) => [normalizeId(s.spanID, 16), s]));
  assert.deepEqual(
    sorted([...byId.keys()]),
    sorted(expected.spans.map((s) => s.spanId)),
    `${expected.label}: every span, no other`,
  );
  for (const want of expected.spans) {
    const span = byId.get(want.spanId)!;
    assert.deepEqual(
      {
        name: span.operationName,
        parent: parentOf(span),
        service: t.processes[span.processID]?.serviceName,
        snapshotId: tag(span, SNAPSHOT_ID_ATTRIBUTE),
        trigger: tag(span, TRIGGER_ATTRIBUTE),
      },
      {
        name: want.name,
        parent: want.parentSpanId,
        service: serviceName,
        snapshotId,
        trigger,
      },
      `${expected.label}: span ${want.name}`,
    );
  }
}

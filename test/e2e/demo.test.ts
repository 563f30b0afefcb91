import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SNAPSHOT_ID_ATTRIBUTE, TRIGGER_ATTRIBUTE } from '../../src/index.js';
import { listSnapshotFiles, parseSnapshotFileName } from '../../src/snapshot/snapshot-files.js';
import { attributesOf, spansOf } from '../fixtures/otlp.js';
import { closedPort } from '../helpers/otlp-receiver.js';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The longest a demo run may take, startup (tsx) and shutdown included. */
const RUN_LIMIT_MS = 40_000;

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  dir: string;
}

/** Runs the demo as `npm start` does, bounded by DEMO_DURATION_MS, with a clean environment. */
function runDemo(extraEnv: Record<string, string>): Promise<Run> {
  const dir = tempDir('fr-demo-');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('OTEL_') && !k.startsWith('FLIGHT_RECORDER_')) env[k] = v;
  }
  Object.assign(
    env,
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_RPS: '20',
      DEMO_DURATION_MS: '4000',
      FLIGHT_RECORDER_SNAPSHOT_DIR: dir,
      FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: '50',
      FLIGHT_RECORDER_MIN_FLUSH_INTERVAL_MS: '1000',
    },
    extraEnv,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`demo still running after ${RUN_LIMIT_MS} ms\n${stdout}\n${stderr}`));
    }, RUN_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr, dir });
    });
  });
}

const FLUSH_LINE =
  /^flight-recorder: flush trigger=(\w+) trace=([0-9a-f]{32}) spans=(\d+) traces=(\d+) logs=\d+ scope=(window|trace) snapshot=([0-9a-f]+) file=(\S+)( jaeger=(\S+))?$/;

function flushLines(stdout: string): RegExpExecArray[] {
  return stdout
    .split('\n')
    .map((l) => FLUSH_LINE.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
}

function summaryOf(stdout: string): Record<string, number> {
  const line = stdout.split('\n').find((l) => l.startsWith('flight-recorder demo: stopped;'));
  assert.ok(line, `no summary line in:\n${stdout}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

describe('demo', { concurrency: true }, () => {
  test('without a collector: says so, prints one line per flush, and writes each flush as an OTLP JSON file', async () => {
    const run = await runDemo({ FLIGHT_RECORDER_MIN_AGE_MS: 'soon' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /no OTEL_EXPORTER_OTLP_ENDPOINT set: writing each flush as one OTLP JSON file to /,
    );
    assert.ok(run.stdout.includes(run.dir), 'names the directory');

    const lines = flushLines(run.stdout);
    assert.ok(lines.length >= 2, `flush lines:\n${run.stdout}`);
    for (const m of lines) {
      assert.ok(['latency', 'error'].includes(m[1]!));
      assert.equal(m[8], undefined, 'no Jaeger link without OTLP');
      const file = path.resolve(ROOT, m[7]!);
      const body = JSON.parse(fs.readFileSync(file, 'utf8'));
      const spans = spansOf(body);
      assert.equal(spans.length, Number(m[3]), 'the line counts the spans in the file');
      assert.equal(new Set(spans.map((s) => s.traceId)).size, Number(m[4]));
      assert.ok(
        spans.some((s) => s.traceId === m[2]),
        'the file holds the triggering trace',
      );
      for (const span of spans) {
        const a = attributesOf(span);
        assert.equal(a[SNAPSHOT_ID_ATTRIBUTE], m[6]);
        assert.equal(a[TRIGGER_ATTRIBUTE], m[1]);
      }
      assert.equal(parseSnapshotFileName(path.basename(file))!.snapshotId, m[6]);
    }
    assert.ok((await listSnapshotFiles(run.dir)).length >= lines.length);

    // The malformed value gets the recorder's one warning, and its default.
    const warnings = run.stderr.split('\n').filter((l) => l.includes('FLIGHT_RECORDER_MIN_AGE_MS'));
    assert.equal(warnings.length, 1, run.stderr);
    assert.match(warnings[0]!, /ignoring FLIGHT_RECORDER_MIN_AGE_MS="soon".*default 10000/);
    assert.doesNotMatch(run.stderr, /export failed|async attributes/);
    const summary = summaryOf(run.stdout);
    assert.equal(summary.exportFailures, 0);
    assert.ok(summary.ok! > 10, run.stdout);
    // pino's DEBUG lines of each flushed request went out with it, as events on its spans.
    const logs = lines.map((m) => Number(/ logs=(\d+) /.exec(m[0])![1]));
    assert.ok(
      logs.every((n) => n > 0),
      `every flush took its requests' log lines: ${logs}`,
    );
    assert.ok(summary.logsAsSpanEvents! > 0, run.stdout);
    assert.equal(summary.logsExported, 0, 'no collector: no OTLP logs');
  });

  test('with the collector down: keeps serving and writing files, and reports the export failure once', async () => {
    const port = await closedPort();
    const run = await runDemo({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`exporting flushes over OTLP/HTTP to http://127.0.0.1:${port}/v1/traces`),
    );

    const summary = summaryOf(run.stdout);
    assert.ok(summary.exportFailures! >= 2, run.stdout);
    assert.ok(summary.ok! > 10, `kept serving:\n${run.stdout}`);
    const failures = run.stderr.split('\n').filter((l) => l.includes('export failed'));
    assert.equal(failures.length, 1, run.stderr);
    assert.match(failures[0]!, /OTLPTraceExporter.*ECONNREFUSED/);

    const lines = flushLines(run.stdout);
    assert.ok(lines.length >= 2, run.stdout);
    for (const m of lines) {
      assert.equal(m[9], `http://localhost:16686/trace/${m[2]}`);
      assert.ok(fs.existsSync(path.resolve(ROOT, m[7]!)));
    }
  });
});

// Coordination: what a remote trigger costs the service that receives it,
// in process (no Redis: the messages are handed to the receiver directly).
// Fills a 16 MiB ring with the traces of scenario 1 (6 spans each), then
// times receive() of: a message about a trace the service does not hold
// (what every service pays for every message under broadcast); one about the
// newest trace it holds; one about the oldest it holds (its records are
// found by a scan from its first record to the ring's end: the worst case).
//
//   node --import tsx bench/coordination.ts [--smoke]   (or npm run bench -- coordination)
import { randomBytes } from 'node:crypto';
import { ExportResultCode } from '@opentelemetry/core';
import { type ReadableSpan, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Coordinator } from '../src/coordination/coordinator.js';
import { encodeMessage } from '../src/coordination/message.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { isMain, main, type RunOptions } from './lib/cli.js';
import { renderTable, type ScenarioResult } from './lib/report.js';
import { emitTrace } from './lib/workload.js';

export async function run({ smoke }: RunOptions): Promise<ScenarioResult> {
  const maxBytes = smoke ? 1024 * 1024 : 16 * 1024 * 1024;

  const exporter: SpanExporter = {
    export: (_spans: ReadableSpan[], done) => done({ code: ExportResultCode.SUCCESS }),
    shutdown: async () => {},
  };
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    maxBytes,
    minAgeMs: 3_600_000,
    triggers: [],
    // Never connects: port 1 refuses. The receiver is driven directly.
    coordination: { redis: 'redis://127.0.0.1:1', remoteFlushesPerSecond: 10_000 },
  });
  const tracer = new TracerProvider({ spanProcessors: [recorder] }).getTracer('bench');
  let i = 0;
  // Until the ring is full and has started evicting.
  while (recorder.stats().spansEvictedByBytes === 0) {
    emitTrace(tracer, i++, false);
  }
  // The traces still held, oldest first: the ring kept their records.
  const window = recorder._windowSpans();
  const held = [...new Set(window.map((s) => s.spanContext().traceId))];
  const coordinator = (recorder as unknown as { _coordination: Coordinator })._coordination;
  const message = (trace: string) =>
    encodeMessage({
      trace,
      snapshot: randomBytes(8).toString('hex'),
      trigger: 'latency',
      service: 'origin',
      instance: 'bench',
    });

  function time(label: string, messages: string[]): [string, string, string] {
    const before = coordinator.counters.flushes;
    const t0 = process.cpuUsage();
    const w0 = performance.now();
    for (const m of messages) coordinator.receive(m);
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(t0);
    const flushed = coordinator.counters.flushes - before;
    const us = ((cpu.user + cpu.system) / messages.length).toFixed(2);
    return [
      label,
      `${messages.length} (${flushed} flushed)`,
      `${us} µs CPU (${((wall * 1e3) / messages.length).toFixed(2)} µs wall)`,
    ];
  }

  const n = smoke ? 1_000 : 100_000;
  const rows = [
    time(
      'trace not held here',
      Array.from({ length: n }, () => message(randomBytes(16).toString('hex'))),
    ),
    time(
      'newest held trace (1 each)',
      held
        .slice(-Math.min(200, held.length >> 2))
        .reverse()
        .map(message),
    ),
    time(
      'oldest held trace (scan of the ring)',
      held.slice(0, Math.min(200, held.length >> 2)).map(message),
    ),
  ];
  // For comparison: the same trace flush triggered locally (an error root, trace
  // scope), less recording a trace that does not trigger.
  const local = new FlightRecorderSpanProcessor({
    exporter,
    maxBytes,
    minAgeMs: 3_600_000,
    flushScope: 'trace',
    triggers: ['error'],
  });
  const localTracer = new TracerProvider({ spanProcessors: [local] }).getTracer('bench');
  for (let k = 0; k < 20_000; k++) emitTrace(localTracer, k, false);
  const m = smoke ? 200 : 2_000;
  const cpuOf = (fail: boolean): number => {
    const t0 = process.cpuUsage();
    for (let k = 0; k < m; k++) emitTrace(localTracer, k, fail);
    const c = process.cpuUsage(t0);
    return (c.user + c.system) / m;
  };
  const ok = (cpuOf(false) + cpuOf(false)) / 2;
  const failed = cpuOf(true);
  rows.push([
    '(local trace flush, for comparison)',
    `${m}`,
    `${(failed - ok).toFixed(2)} µs CPU more than a trace that does not trigger`,
  ]);
  await local.shutdown();
  const setup = `ring ${maxBytes / 2 ** 20} MiB, ${window.length} spans of ${held.length} traces held; Node ${process.version}`;
  await recorder.shutdown();
  return {
    title: 'Coordination: a remote trigger on the receiving service',
    markdown: [
      'CPU of `receive()` per message, in process (no Redis), on a full ring: a trace not held (what broadcast costs every service), the newest and the oldest held trace (found by a scan from its first record), and a local trace flush for comparison. See docs/coordination.md.',
      '',
      setup,
      '',
      renderTable(['message about', 'messages', 'receive() per message'], rows),
    ].join('\n'),
    targets: [],
    headlines: [
      `remote trigger: ${rows[0]![2]} for a trace not held, ${rows[1]![2]} for a held one`,
    ],
  };
}

if (isMain(import.meta.url)) await main(run);

// What a signal snapshot of a full ring costs: time, the process's peak RSS
// and the file it writes (docs/snapshots-and-files.md). Fills a ring of
// `maxBytes` MiB (first argument, default 16) with spans of 30 attributes,
// sends the process SIGUSR2 and waits for the diag line naming the file.
//   npx tsx bench/signal-snapshot.ts 32
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, diag, DiagLogLevel } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../src/index.js';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const maxBytes = Number(process.argv[2] ?? 16) * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'signal-snapshot-'));
let done: (line: string) => void = () => {};
const written = new Promise<string>((resolve) => (done = resolve));
const log = (level: string) => (line: string) => {
  if (/snapshot (of \d+ spans )?written|not written/.test(line)) {
    console.log(`diag.${level}: ${line.slice(0, 300)}`);
    done(line);
  }
};
diag.setLogger(
  {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: () => {},
    verbose: () => {},
  },
  DiagLogLevel.INFO,
);
const recorder = new FlightRecorderSpanProcessor({
  maxBytes,
  minAgeMs: 3_600_000,
  triggers: [],
  runtimeEvents: false,
  snapshotSignal: 'SIGUSR2',
  snapshotDir: dir,
});
const provider = new TracerProvider({
  spanProcessors: [recorder],
  resource: resourceFromAttributes({ 'service.name': 'signal-snapshot' }),
});
const tracer = provider.getTracer('signal-snapshot');
const attributes: Record<string, number> = {};
for (let k = 0; k < 30; k++) attributes[`attr.number.${k}`] = k;
let n = 0;
while (recorder.stats().spansEvictedByBytes === 0 && n < 3_000_000) {
  for (let i = 0; i < 1000; i++, n++) tracer.startSpan('op', { attributes }).end();
}
const stats = recorder.stats();
console.log(
  `maxBytes ${maxBytes >> 20} MiB: ${stats.bufferedSpans} spans buffered, ${(stats.bufferedBytes / 2 ** 20).toFixed(1)} MiB`,
);
const start = Date.now();
const rssBefore = process.memoryUsage().rss;
let peak = rssBefore;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
process.kill(process.pid, 'SIGUSR2');
await written;
clearInterval(sampler);
console.log(
  `signal handled in ${Date.now() - start} ms; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(peak / 2 ** 20).toFixed(0)} MiB at the peak`,
);
for (const file of readdirSync(dir))
  console.log(`${file}: ${statSync(join(dir, file)).size} bytes`);
await provider.shutdown();
rmSync(dir, { recursive: true, force: true });

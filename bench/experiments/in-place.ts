// Scenario 1's traces through a TracerProvider with no processor (`a`) or the
// recorder with no triggers (`d`), alone in this process, so a profiler sees
// one configuration: what bench/experiments/perf-in-place.sh runs under
// Linux perf (docs/overhead.md, the fifteenth pass). Prints the CPU per span
// of each of 3 rounds.
//   npx tsx bench/experiments/in-place.ts a|d [traces per round, 80000]
import { type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { FlightRecorderSpanProcessor } from '../../src/index.js';
import { yieldToLoop } from '../lib/cli.js';
import { emitTrace, SPANS_PER_TRACE } from '../lib/workload.js';

const mode = process.argv[2];
const traces = Number(process.argv[3] ?? 80_000);
if ((mode !== 'a' && mode !== 'd') || !Number.isInteger(traces) || traces < 1) {
  console.error('usage: in-place.ts a|d [traces per round]');
  process.exit(2);
}
const processors: SpanProcessor[] =
  mode === 'd' ? [new FlightRecorderSpanProcessor({ triggers: [], runtimeEvents: false })] : [];
const tracer = new TracerProvider({ spanProcessors: processors }).getTracer('bench', '1.0.0');
for (let round = 0; round < 3; round++) {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < traces; i++) {
    emitTrace(tracer, round * traces + i, false);
    if (i % 10 === 9) await yieldToLoop();
  }
  const cpu = process.cpuUsage(cpu0);
  const ns = ((cpu.user + cpu.system) * 1e3) / (traces * SPANS_PER_TRACE);
  console.log(`${mode} round ${round + 1}: ${ns.toFixed(0)} ns of CPU a span`);
}

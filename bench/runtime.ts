// Scenario 5: what always-on runtime events cost (the GC observer and the
// stall detector, issue 13), in scenario 2's HTTP service. The recorder with
// no triggers, (d), runs with runtime events on (the default) and off
// (FLIGHT_RECORDER_RUNTIME_EVENTS=false), alternating with each other and
// with the SDK alone, (a), each in a fresh service process. The target is
// on the CPU per request: on minus off, as a share of (a)'s.
import { runOnce, type Sample, type Sizes } from './http.js';
import { isMain, log, main, type RunOptions } from './lib/cli.js';
import { startReceiver } from './lib/receiver.js';
import { renderTable, type ScenarioResult } from './lib/report.js';
import { fmt, fmtSummary, pct, summarize } from './lib/stats.js';

type Variant = 'a' | 'on' | 'off';
const VARIANTS: Variant[] = ['a', 'on', 'off'];
const LABELS: Record<Variant, string> = {
  a: '(a) SDK, no processor',
  on: '(d) recorder, runtime events on (default)',
  off: '(d) recorder, runtime events off',
};
/** The most always-on capture may add, as a share of (a)'s CPU per request. */
const TARGET = 0.01;

const FULL: Sizes = { rounds: 8, warmSeconds: 2, seconds: 5, connections: 16 };
const SMOKE: Sizes = { rounds: 1, warmSeconds: 0, seconds: 0, connections: 4 };

export async function run(options: RunOptions): Promise<ScenarioResult> {
  const sizes = { ...(options.smoke ? SMOKE : FULL) };
  if (process.env.BENCH_ROUNDS) sizes.rounds = Number(process.env.BENCH_ROUNDS);
  const receiver = await startReceiver();
  const samples: Record<Variant, Sample[]> = { a: [], on: [], off: [] };
  try {
    for (let round = 0; round < sizes.rounds; round++) {
      const order = VARIANTS.map((_, k) => VARIANTS[(k + round) % VARIANTS.length]!);
      for (const v of order) {
        const env: Record<string, string> =
          v === 'a' ? {} : { FLIGHT_RECORDER_RUNTIME_EVENTS: v === 'on' ? 'true' : 'false' };
        const sample = await runOnce(v === 'a' ? 'a' : 'd', sizes, receiver.url, env);
        samples[v].push(sample);
        log(
          `runtime round ${round + 1}/${sizes.rounds} ${v}: ${fmt(sample.rps)} req/s, ${fmt(sample.cpuUsPerRequest, 1)} µs CPU/request`,
        );
        if (sample.errors > 0) throw new Error(`autocannon saw ${sample.errors} errors in ${v}`);
      }
    }
  } finally {
    await receiver.stop();
  }
  const cpu = (v: Variant) => summarize(samples[v].map((s) => s.cpuUsPerRequest));
  // Per round, side by side: (on − off) / a, so slow and fast rounds compare with themselves.
  const share = summarize(
    samples.on.map(
      (s, r) =>
        (s.cpuUsPerRequest - samples.off[r]!.cpuUsPerRequest) / samples.a[r]!.cpuUsPerRequest,
    ),
  );
  const rows = VARIANTS.map((v) => [
    LABELS[v],
    fmtSummary(summarize(samples[v].map((s) => s.rps))),
    fmtSummary(cpu(v), 1, ' µs'),
  ]);
  const added = cpu('on').median - cpu('off').median;
  const met = share.median <= TARGET;
  const markdown = `
Scenario 2's service (\`bench/lib/http-service.ts\`, 6 spans a request) with
the recorder and no triggers, (d), with runtime events on (the default: the
\`'gc'\` \`PerformanceObserver\` and the stall detector's timer) and off
(\`FLIGHT_RECORDER_RUNTIME_EVENTS=false\`), beside the SDK alone, (a). ${sizes.rounds}
rounds, the order rotating each round, each variant in a fresh process:
${sizes.warmSeconds} s warm-up, ${sizes.seconds} s measured, ${sizes.connections}
connections. No flush happens, so this is the cost of capture alone; what a
flush spends on attaching is in scenario 4. The share is computed per round,
(on − off) / (a), and its median reported: a 1% effect is well inside this
shared machine's round-to-round noise, so the spread matters as much as the
median.

${renderTable(['variant', 'requests/s', 'CPU per request'], rows)}

Runtime events add ${fmt(added, 2)} µs of CPU per request (medians), a share of
(a)'s per round of ${fmtSummary(share, 4)}.
`;
  return {
    title: '5. Runtime events (GC pauses, stalls) always on',
    markdown,
    targets: [
      {
        target: 'always-on runtime events add at most 1% of the SDK-alone CPU per request (HTTP)',
        figure: `${pct(share.median, 2)} (per round ${fmtSummary(share, 4)})`,
        met,
        note: met
          ? `within the target by ${pct(TARGET - share.median, 2)}; the observer runs once per GC and the timer ${1000 / 50} times a second, neither per request.`
          : `${pct(share.median - TARGET, 2)} over the target.`,
      },
    ],
    headlines: [
      `Runtime events: always-on GC and stall capture costs ${pct(share.median, 2)} of the SDK-alone CPU per request in the HTTP service.`,
    ],
  };
}

if (isMain(import.meta.url)) await main(run);

// What the HTTP service's throughput does with a processor that does nothing
// but spin for a fixed time per span, beside (a) and the recorder (d): the
// exchange rate between CPU added per span and throughput on this machine,
// to read scenario 2's targets against. A diagnostic, not part of
// `npm run bench`.
//   npx tsx bench/http-spin.ts            (spins 1,000 and 3,000 ns a span)
//   BENCH_SPIN_NS=500,1500 BENCH_ROUNDS=6 npx tsx bench/http-spin.ts
import { runOnce, type Sizes } from './http.js';
import { startReceiver } from './lib/receiver.js';
import { fmt, summarize } from './lib/stats.js';

const spins = (process.env.BENCH_SPIN_NS ?? '1000,3000').split(',').map(Number);
const sizes: Sizes = {
  rounds: Number(process.env.BENCH_ROUNDS ?? 4),
  warmSeconds: 2,
  seconds: 5,
  connections: 16,
};
const variants = [
  { name: '(a) SDK, no processor', mode: 'a' as const, env: {} },
  ...spins.map((ns) => ({
    name: `(a) + a processor spinning ${fmt(ns)} ns a span`,
    mode: 'a' as const,
    env: { BENCH_SPIN_NS: String(ns) },
  })),
  { name: '(d) flight recorder, no triggers', mode: 'd' as const, env: {} },
];
const receiver = await startReceiver();
const rps = variants.map(() => [] as number[]);
const cpu = variants.map(() => [] as number[]);
try {
  for (let round = 0; round < sizes.rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + round) % variants.length;
      const v = variants[i]!;
      const sample = await runOnce(v.mode, sizes, receiver.url, v.env);
      rps[i]!.push(sample.rps);
      cpu[i]!.push(sample.cpuUsPerRequest);
    }
  }
} finally {
  await receiver.stop();
}
for (let i = 0; i < variants.length; i++) {
  const ratio = summarize(rps[i]!.map((r, round) => r / rps[0]![round]!));
  const added = summarize(cpu[i]!.map((c, round) => c - cpu[0]![round]!));
  console.log(
    `${variants[i]!.name}: throughput vs (a) ${fmt(ratio.median, 3)} (${fmt(ratio.min, 3)} – ${fmt(ratio.max, 3)}), ` +
      `CPU +${fmt(added.median, 1)} µs a request (${fmt((added.median * 1000) / 6)} ns a span)`,
  );
}

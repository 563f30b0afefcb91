// Two `perf record` files of the same work, `a` and `d`, compared by symbol:
// for the symbols that differ most, the ns per span (or other `unit`) each
// took in both and their difference. Run by perf-in-place.sh.
//   npx tsx bench/experiments/perf-diff.ts a.data d.data <units> [hz, 2999] [rows, 40]
import { execFileSync } from 'node:child_process';

const [fileA, fileD, unitsArg, hzArg = '2999', rowsArg = '40'] = process.argv.slice(2);
const units = Number(unitsArg);
if (fileA === undefined || fileD === undefined || !(units > 0)) {
  console.error('usage: perf-diff.ts a.data d.data <units> [hz] [rows]');
  process.exit(2);
}

/** Samples by symbol; JIT tiers (`*`, `~`, `^`, `+`) counted as one function. */
function samples(file: string): Map<string, number> {
  const report = execFileSync('perf', ['report', '-i', file, '--stdio', '-n', '--sort', 'symbol'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const bySymbol = new Map<string, number>();
  for (const line of report.split('\n')) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+\[.\]\s+(.*?)(\s+-\s+-)?\s*$/.exec(line);
    if (m === null) continue;
    const symbol = m[2]!
      .replace(/^JS:[*~^+]?/, 'JS:')
      .replace(/file:\/\/\/[^ ]*?\/(src|bench)\//, '$1/');
    bySymbol.set(symbol, (bySymbol.get(symbol) ?? 0) + Number(m[1]));
  }
  return bySymbol;
}

const a = samples(fileA);
const d = samples(fileD);
const ns = (n: number) => (n * 1e9) / Number(hzArg) / units;
const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
console.log(`total: a ${ns(total(a)).toFixed(0)}, d ${ns(total(d)).toFixed(0)} ns a unit`);
const symbols = [...new Set([...a.keys(), ...d.keys()])];
const diff = (s: string) => (d.get(s) ?? 0) - (a.get(s) ?? 0);
symbols.sort((x, y) => diff(y) - diff(x));
console.log('   d − a        a        d  symbol');
for (const s of symbols.slice(0, Number(rowsArg))) {
  const cells = [diff(s), a.get(s) ?? 0, d.get(s) ?? 0].map((n) => ns(n).toFixed(1).padStart(8));
  console.log(`${cells.join(' ')}  ${s.slice(0, 110)}`);
}

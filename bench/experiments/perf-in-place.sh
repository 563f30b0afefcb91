#!/usr/bin/env bash
# Where (d)'s cost goes in place, by function, V8's builtins and runtime
# included (docs/overhead.md, the fifteenth pass): scenario 1's traces with
# no processor (a) and with the recorder (d), each alone in a process under
# Linux perf's software clock (no hardware counters needed), with Node's
# --perf-basic-prof naming the JIT's functions; then the symbols that differ
# most, in ns a span. Needs `perf` (Debian: linux-perf). Not part of
# `npm run bench`; about a minute.
#   bash bench/experiments/perf-in-place.sh [traces per round, 80000]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
traces=${1:-80000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
for mode in a d; do
  perf record -q -e cpu-clock -F 2999 -o "$work/$mode.data" \
    node --perf-basic-prof --no-logfile-per-isolate --logfile="$work/v8.log" \
    --import tsx bench/experiments/in-place.ts "$mode" "$traces"
done
# 3 rounds of `traces` traces of 6 spans each.
npx tsx bench/experiments/perf-diff.ts "$work/a.data" "$work/d.data" $((traces * 3 * 6))

#!/usr/bin/env bash
# Proves the package on the SDK 3.x line and Node 24, as CI must:
#  1. type check and test suite, from source, against SDK 3.x packages (files
#     that need SDK 2.x's sdk-trace-node are left out, by name);
#  2. the packed tarball installed into a fresh SDK 3.x app, without
#     sdk-trace-base: ESM import, CJS require and a strict type check; then
#     the README's quick start on the 3.x line (scripts/check-quickstart.sh).
# Node 24 comes from the npm registry's `node` package, cached between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${FLIGHT_RECORDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-flight-recorder}"
node24_dir="$cache/node24"
if ! "$node24_dir/node_modules/.bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  echo "compat: installing Node 24 into $node24_dir"
  mkdir -p "$node24_dir"
  npm install --prefix "$node24_dir" --no-audit --no-fund node@24 >/dev/null
fi
export PATH="$node24_dir/node_modules/node/bin:$PATH"
node --version | grep -q '^v24\.' || { echo "compat: FAILED to get Node 24" >&2; exit 1; }

SDK3=(
  @opentelemetry/api@1.10.0
  @opentelemetry/core@3.1.1
  @opentelemetry/resources@3.1.1
  @opentelemetry/sdk-trace@3.1.1
  @opentelemetry/context-async-hooks@3.1.1
  @opentelemetry/exporter-trace-otlp-http@0.301.2
  @opentelemetry/otlp-exporter-base@0.301.2
  @opentelemetry/otlp-transformer@0.301.2
)
SDK3_EXTRA=(
  @opentelemetry/sdk-node@0.301.2
  @opentelemetry/instrumentation-http@0.301.2
  @opentelemetry/instrumentation@0.301.2
  @opentelemetry/sdk-logs@3.1.1
  @opentelemetry/exporter-logs-otlp-http@0.301.2
  @opentelemetry/exporter-trace-otlp-grpc@0.301.2
  @opentelemetry/instrumentation-pino@0.70.0
  @opentelemetry/instrumentation-winston@0.69.0
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== compat 1/2: test suite on Node $(node --version) with SDK 3.x"
mkdir -p "$work/repo"
tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude=./.git \
  --exclude='./flight-recorder-snapshots' -cf - . | tar -C "$work/repo" -xf -
cd "$work/repo"
# SDK 3.x has no sdk-trace-node (NodeTracerProvider): drop the files that use
# it, said by name so nothing else is dropped unnoticed.
mapfile -t node_only < <(grep -rlE --include='*.ts' "from '@opentelemetry/sdk-trace-node'" src test examples bench demo || true)
echo "compat: leaving out SDK 2.x-only files: ${node_only[*]:-none}"
grep -qE "from '@opentelemetry/sdk-trace-node'" src/*.ts && { echo "compat: src must not need sdk-trace-node" >&2; exit 1; }
rm -f package-lock.json "${node_only[@]}"
npm pkg delete devDependencies.@opentelemetry/sdk-trace-base devDependencies.@opentelemetry/sdk-trace-node
for spec in "${SDK3[@]}" "${SDK3_EXTRA[@]}"; do
  npm pkg set "devDependencies.${spec%@*}=${spec##*@}"
done
npm install --no-audit --no-fund --loglevel=error
test ! -e node_modules/@opentelemetry/sdk-trace-base || { echo "compat: sdk-trace-base was installed" >&2; exit 1; }
grep -q '"version": "3\.' node_modules/@opentelemetry/sdk-trace/package.json || { echo "compat: sdk-trace is not 3.x" >&2; exit 1; }
npx tsc --noEmit -p .
node --import tsx --test --test-reporter=spec test/*.test.ts
node --expose-gc --import tsx --test --test-concurrency=1 --test-reporter=spec test/faults/*.test.ts

echo "== compat 2/2: the packed package in a fresh SDK 3.x app"
# prepack builds dist/; the tarball's name is the last line npm prints.
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
mkdir -p "$work/app"
cp "$root/test/compat/"* "$work/app/"
cd "$work/app"
npm init -y >/dev/null
npm pkg set type=module
npm install --no-audit --no-fund --loglevel=error "$tarball" "${SDK3[@]}" typescript@5 @types/node@24
test ! -e node_modules/@opentelemetry/sdk-trace-base || { echo "compat: sdk-trace-base was installed" >&2; exit 1; }
# The declarations live under dist/types and dist/types-cjs; none may name sdk-trace-base.
declarations=$(find node_modules/otel-flight-recorder/dist -name '*.d.ts' -o -name '*.d.cts' | wc -l)
test "$declarations" -gt 0 || { echo "compat: no declarations found in the package" >&2; exit 1; }
if grep -rl --include='*.d.ts' --include='*.d.cts' 'sdk-trace-base' node_modules/otel-flight-recorder/dist; then
  echo "compat: our declarations name sdk-trace-base" >&2; exit 1
fi
node app.mjs
node app.cjs
npx tsc --noEmit -p tsconfig.json
bash "$root/scripts/check-quickstart.sh" "$tarball" 3
echo "compat: 2 passed, 0 failed"

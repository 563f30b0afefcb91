#!/usr/bin/env bash
# What a new user does, from a clean clone of the committed HEAD: install,
# pack WITHOUT building first (prepack must build dist/), install the tarball
# into a fresh app with the SDK 2.x peers, then run the CLI (--version, view,
# ls), import the package as ESM and as CommonJS, and follow the README's
# quick start (scripts/check-quickstart.sh). Catches a package that
# ships without dist/, a bin that does not run, and files that exist only
# because someone built them locally. Uncommitted changes are not in the clone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check:pack: FAILED: $*" >&2; exit 1; }

echo "== check:pack 1/4: clean clone of $(git -C "$root" rev-parse --short HEAD), npm ci, npm pack"
git clone --quiet --no-checkout "$root" "$work/clone"
git -C "$work/clone" checkout --quiet "$(git -C "$root" rev-parse HEAD)"
cd "$work/clone"
test ! -e dist || fail "the clone has a dist/ before anything was built"
npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
test ! -e dist || fail "npm ci built dist/; this check must pack without a build"
# The tarball's name is the last line npm prints (prepack's output comes first).
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
test -f "$tarball" || fail "npm pack made no tarball"
listing=$(tar -tzf "$tarball")
for file in package/package.json package/README.md package/LICENSE package/dist/index.js \
  package/dist/index.cjs package/dist/cli.js package/dist/types/index.d.ts \
  package/dist/types-cjs/index.d.ts; do
  grep -qx "$file" <<<"$listing" || fail "$file is not in the tarball"
done
if grep -E '^package/(src|test|bench|docs|examples|scripts)/' <<<"$listing"; then
  fail "the tarball holds development files"
fi
version=$(node -p "require('./package.json').version")
# The SDK 2.x peers at the versions this repository develops on.
peers=$(node -p "const d = require('./package.json').devDependencies; Object.keys(require('./package.json').peerDependencies).map((p) => p + '@' + d[p]).join(' ')")

echo "== check:pack 2/4: the tarball in a fresh app ($peers)"
mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm pkg set type=module
# shellcheck disable=SC2086 # one word per peer
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball" $peers >/dev/null

echo "== check:pack 3/4: the CLI and an import, ESM and CJS"
printed=$(npx --no-install flight-recorder --version) || fail "flight-recorder --version failed"
test "$printed" = "$version" || fail "flight-recorder --version printed '$printed', not $version"
snapshot="$work/clone/test/fixtures/snapshot-files/flight-recorder-2026-11-22T04-15-00.812Z-latency-9f2c4e1a7b3d5f60.json"
npx --no-install flight-recorder view "$snapshot" | grep -q '^snapshot 9f2c4e1a7b3d5f60 · trigger latency' ||
  fail "flight-recorder view did not draw the snapshot"
npx --no-install flight-recorder ls "$(dirname "$snapshot")" | grep -q 'latency' ||
  fail "flight-recorder ls did not list the snapshots"
cp "$work/clone/test/compat/app.mjs" "$work/clone/test/compat/app.cjs" .
node app.mjs | grep -q 'ok' || fail "the ESM import"
node app.cjs | grep -q 'ok' || fail "the CommonJS require"

echo "== check:pack 4/4: the README's quick start on SDK 2.x"
bash "$work/clone/scripts/check-quickstart.sh" "$tarball" 2
echo "check:pack: otel-flight-recorder $version packs from a clean clone; CLI, ESM, CJS and the quick start work"

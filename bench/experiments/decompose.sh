#!/usr/bin/env bash
# What recording a span costs, by part (docs/overhead.md, the twelfth
# pass): builds this checkout as it is and
# with each patch in this folder applied (in a throwaway worktree), then runs
# bench/compare-builds.ts, the real build as A and the patched one as B, so
# each part's cost is the difference within one run: replayed (the recorder
# alone, 60 rounds; precise) and in the pipeline (beside the SDK, 8 rounds;
# noisier, a B / A per round of ±0.1 from run to run).
#   no-span-attributes.patch  the span's own attributes are not encoded
#   no-encoding.patch         nothing is encoded: onStart, onEnd, the ring's
#                             index and bookkeeping only (12-byte records)
#   slot-by-reciprocal.patch  the ring's slots by a multiplication, not a
#                             division (tried and left out: slower)
# The patches are against the commit that added them; refresh one that no
# longer applies.
# Not part of `npm run bench`; about 3 minutes a patch.
#   bash bench/experiments/decompose.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
cleanup() {
  git -C "$here" worktree remove --force "$work/tree" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$here"
npm run build --silent
mkdir -p "$work/full" && cp -r dist "$work/full/" && ln -s "$here/node_modules" "$work/full/node_modules"
git worktree add --detach --quiet "$work/tree" HEAD
ln -s "$here/node_modules" "$work/tree/node_modules"
for patch in bench/experiments/*.patch; do
  name=$(basename "$patch" .patch)
  git -C "$work/tree" checkout --quiet -- src
  # The checkout's uncommitted changes too, so B differs from A by the patch alone.
  git diff HEAD -- src | git -C "$work/tree" apply --allow-empty
  git -C "$work/tree" apply "$here/$patch"
  (cd "$work/tree" && npm run build --silent)
  rm -rf "$work/$name" && mkdir -p "$work/$name" && cp -r "$work/tree/dist" "$work/$name/"
  ln -s "$here/node_modules" "$work/$name/node_modules"
  for mode in replay pipeline; do
    echo "== $mode, B: $name (A: this checkout)"
    BENCH_MODE=$mode BENCH_A="$work/full/dist/index.js" BENCH_B="$work/$name/dist/index.js" \
      node --expose-gc --import tsx bench/compare-builds.ts
  done
done

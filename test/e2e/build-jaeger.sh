#!/usr/bin/env bash
# Builds the Jaeger v2 binary (main package cmd/jaeger) from Go modules with the
# machine's Go toolchain, into a cache directory outside the repository, and
# prints its path on stdout. A binary already in the cache is reused.
#
# Why a wrapper module: the module proxy refuses the v2.x release commit as a
# pseudo-version, but it serves the module's v1.x tags, which carry the same
# main package. Building a package of a dependency needs a main module, so a
# throwaway one requires the tag and copies the tag's only replace directive
# (replace directives of dependencies are ignored by Go, so it must be copied).
# Tag v1.76.0 is the release Jaeger v2.13.0, the image docker-compose.yml pins.
#
# Exit status: 0 with the path printed, 3 when the binary is missing and Go is
# not installed, anything else when the build failed.
#
# Environment:
#   FLIGHT_RECORDER_CACHE_DIR  cache root; default ${XDG_CACHE_HOME:-$HOME/.cache}/otel-flight-recorder
#   JAEGER_BIN                 use this binary instead; nothing is built
set -euo pipefail

readonly JAEGER_MODULE=github.com/jaegertracing/jaeger
readonly JAEGER_MODULE_VERSION=v1.76.0
readonly SARAMA_REPLACE='github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0'

log() { printf 'build-jaeger: %s\n' "$*" >&2; }

if [[ -n "${JAEGER_BIN:-}" ]]; then
  if [[ ! -x "$JAEGER_BIN" ]]; then
    log "JAEGER_BIN=$JAEGER_BIN is not an executable file"
    exit 1
  fi
  printf '%s\n' "$JAEGER_BIN"
  exit 0
fi

cache_root=${FLIGHT_RECORDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-flight-recorder}
bin_dir=$cache_root/jaeger-$JAEGER_MODULE_VERSION
bin=$bin_dir/jaeger

if [[ -x "$bin" ]]; then
  log "reusing $bin"
  printf '%s\n' "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed (needed to build Jaeger $JAEGER_MODULE_VERSION)"
  exit 3
fi

mkdir -p "$bin_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/jaeger-wrapper.XXXXXX")
# Build to a temporary name, then rename, so a killed build never leaves a
# half-written binary that a later run would reuse.
tmp_bin=$bin_dir/.jaeger.$$.tmp
trap 'rm -rf "$work" "$tmp_bin"' EXIT

cat >"$work/go.mod" <<EOF
module flightrecorder.local/jaegerbuild

go 1.24.6

require $JAEGER_MODULE $JAEGER_MODULE_VERSION

replace $SARAMA_REPLACE
EOF

cd "$work"
started=$SECONDS
log "building $JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION with $(go version) (first build takes several minutes)"
# The toolchain is the machine's; never let Go fetch another one.
export GOTOOLCHAIN=local
# The tag's own go.sum pins every module Jaeger's build uses (it is the file
# Jaeger's CI builds with), and the tag itself is checked against the checksum
# database here. Seeding the wrapper's go.sum with it means Go needs no
# checksum-database lookups for the rest, which proxies that mirror only part
# of that database cannot answer.
if ! go mod download -json "$JAEGER_MODULE@$JAEGER_MODULE_VERSION" >download.json; then
  cat download.json >&2
  exit 1
fi
jaeger_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' download.json)
if [[ ! -f "$jaeger_dir/go.sum" ]]; then
  log "no go.sum in the downloaded module (Dir: '$jaeger_dir')"
  exit 1
fi
cat "$jaeger_dir/go.sum" >>go.sum
# `go get` of the package (not `go mod tidy`) resolves only what the build
# needs, so it downloads no test-only modules.
go get "$JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION" >&2
go build -trimpath -o "$tmp_bin" "$JAEGER_MODULE/cmd/jaeger" >&2
mv -f "$tmp_bin" "$bin"
log "built $bin in $((SECONDS - started)) s"
printf '%s\n' "$bin"

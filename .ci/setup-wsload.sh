#!/usr/bin/env bash
# The subscription benchmark's native websocket load generator (benchmarks/wsload, Go): built from the
# project's own go.mod / go.sum / *.go with the Go toolchain, modules from the Go module proxy.
# Idempotent and cached: the binary is rebuilt only when those files change. Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/benchmarks/wsload"
cache="${PODIUM_CACHE_DIR:-$HOME/.cache/podium}"
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
if [ ! -x "$go_bin" ]; then
  echo "setup-wsload: no Go toolchain (go on PATH or /usr/local/go/bin/go)" >&2
  exit 1
fi
stamp="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)"
out="$cache/wsload/wsload-$stamp"
if [ ! -x "$out" ]; then
  mkdir -p "$cache/wsload" "$cache/go/mod" "$cache/go/build"
  (cd "$src" && GOFLAGS=-mod=mod GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOPATH="$cache/go" \
     "$go_bin" build -trimpath -o "$out.tmp" . && mv "$out.tmp" "$out")
fi
echo "$out"

#!/usr/bin/env bash
# The bench's native tools from Debian's packages (idempotent, quiet): wrk, the HTTP load generator,
# and redis-benchmark (redis-tools), the in-run baseline for ingest and reads.
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
if ((${#missing[@]})); then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

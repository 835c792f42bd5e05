#!/usr/bin/env bash
# The bench's native HTTP load generator: wrk from Debian's packages (idempotent, quiet).
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

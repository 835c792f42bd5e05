#!/usr/bin/env bash
# The contest ledger's PostgreSQL tests start a real server from Debian's postgresql package
# (podium/devtools/postgres_server.py); install it when missing. Idempotent and quiet.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

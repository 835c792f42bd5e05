#!/usr/bin/env bash
# Apache Cassandra 5 for the history-store tests and bench: its jars from Maven Central via
# cassandra-server/pom.xml into ~/.cache/podium/cassandra-<version>/libs, then the JVM's class-data
# archive (one throw-away node start) so every test session's node starts faster. Java and Maven come
# from .ci/setup-kafka.sh. Idempotent and quiet: a machine that kept the cache is done at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python -c '
from podium.devtools.cassandra_dist import CASSANDRA
from podium.devtools.cassandra_server import ensure_class_archive
CASSANDRA.ensure_jars()
ensure_class_archive()
print(f"cassandra {CASSANDRA.version()}: jars and class archive ready")'

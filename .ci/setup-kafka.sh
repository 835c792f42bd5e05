#!/usr/bin/env bash
# Apache Kafka for the stream tests, `podium bench kafka` and `podium up --kafka`: Java 17 and Maven
# from Debian, then the broker's jars from Maven Central via kafka/pom.xml into
# ~/.cache/podium/kafka-<version>/libs (Maven's own ~/.m2 cache too). Idempotent and quiet: a machine
# that kept the cache starts at once.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The same code the tests use (podium.devtools.kafka_dist): one cache, one version, one lock.
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python -c \
  'from podium.devtools.kafka_dist import ensure_jars, kafka_version; ensure_jars(); print(f"kafka {kafka_version()}: jars ready")'

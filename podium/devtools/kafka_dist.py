"""The Apache Kafka broker's jars: fetched from Maven Central by `kafka/pom.xml`, cached per version
(see `podium.devtools.maven_dist`).
"""

from __future__ import annotations

from pathlib import Path

from podium.devtools.maven_dist import MavenDist, java_binary

KAFKA_VERSION = "4.4.0"
KAFKA = MavenDist("kafka", KAFKA_VERSION, "kafka", "kafka.version", "kafka_2.13-{version}.jar")
# The broker logs WARN and above to a file per node: enough to say why it stopped, cheap at start-up.
_LOG4J2 = """Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "${sys:kafka.logs.dir}/broker.log"
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
    Root:
      level: WARN
      AppenderRef:
        - ref: FILE
"""


def kafka_version() -> str:
    """The broker version: PODIUM_KAFKA_VERSION, else the one this release is tested with."""
    return KAFKA.version()


def pom_path() -> Path:
    return KAFKA.pom_path()


def cache_dir(version: str | None = None) -> Path:
    """PODIUM_KAFKA_HOME, else ~/.cache/podium/kafka-<version> (XDG_CACHE_HOME is honoured)."""
    return KAFKA.cache_dir(version)


def ensure_jars(version: str | None = None) -> Path:
    return KAFKA.ensure_jars(version)


def log4j2_config(version: str | None = None) -> Path:
    """The broker's logging configuration, written next to the jars."""
    return KAFKA.write_config("log4j2.yaml", _LOG4J2, version)


def classpath(version: str | None = None) -> str:
    return KAFKA.classpath(version)


def class_archive(kind: str, version: str | None = None) -> Path:
    return KAFKA.class_archive(kind, version)


__all__ = ["KAFKA", "cache_dir", "class_archive", "classpath", "ensure_jars", "java_binary", "kafka_version",
           "log4j2_config", "pom_path"]

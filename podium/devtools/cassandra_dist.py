"""Apache Cassandra's jars: `org.apache.cassandra:cassandra-all` fetched from Maven Central by
`cassandra-server/pom.xml`, cached per version (see `podium.devtools.maven_dist`)."""

from __future__ import annotations

from pathlib import Path

from podium.devtools.maven_dist import MavenDist

CASSANDRA_VERSION = "5.0.6"
CASSANDRA = MavenDist("cassandra", CASSANDRA_VERSION, "cassandra-server", "cassandra.version",
                      "cassandra-all-{version}.jar")

# WARN and above to one file per node: enough to say why it stopped, cheap at start-up. The
# "listening for CQL" line is INFO and says when the node serves.
_LOGBACK = """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%d %-5level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra.transport" level="INFO"/>
  <logger name="org.apache.cassandra.service.CassandraDaemon" level="INFO"/>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
"""


def logback_config() -> Path:
    return CASSANDRA.write_config("logback.xml", _LOGBACK)

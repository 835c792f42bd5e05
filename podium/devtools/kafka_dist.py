"""The Apache Kafka broker's jars: fetched from Maven Central by `kafka/pom.xml`, cached per version.

`mvn dependency:copy-dependencies` copies `org.apache.kafka:kafka_2.13` and its runtime dependencies
into `~/.cache/podium/kafka-<version>/libs` once; later runs find the `.complete` marker and start at
once. A file lock keeps two processes (a test session and `podium up --kafka`) from fetching into the
same directory at the same time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from podium.errors import Unavailable

KAFKA_VERSION = "4.4.0"
FETCH_TIMEOUT_S = 900.0
_COMPLETE = ".complete"
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
    return os.environ.get("PODIUM_KAFKA_VERSION", KAFKA_VERSION)


def pom_path() -> Path:
    """`kafka/pom.xml` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "kafka" / "pom.xml"


def cache_dir(version: str | None = None) -> Path:
    """PODIUM_KAFKA_HOME, else ~/.cache/podium/kafka-<version> (XDG_CACHE_HOME is honoured)."""
    explicit = os.environ.get("PODIUM_KAFKA_HOME")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "podium" / f"kafka-{version or kafka_version()}"


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise Unavailable("java is not on PATH (Kafka needs Java 17+): run .ci/setup-kafka.sh")
    return java


def ensure_jars(version: str | None = None) -> Path:
    """The directory holding the broker's jars, fetched with Maven on first use."""
    version = version or kafka_version()
    home = cache_dir(version)
    libs = home / "libs"
    if (libs / _COMPLETE).exists():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (libs / _COMPLETE).exists():
            _fetch(version, libs)
    return libs


def _fetch(version: str, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Unavailable("mvn is not on PATH (the broker's jars come from Maven Central): run .ci/setup-kafka.sh")
    if not pom_path().exists():
        raise Unavailable(f"{pom_path()} is missing: the Kafka broker is fetched from a source checkout")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        done = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom_path()), f"-Dkafka.version={version}", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging}", "dependency:copy-dependencies"],
            capture_output=True, timeout=FETCH_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"fetching Kafka {version} with Maven took over {FETCH_TIMEOUT_S:.0f}s") from exc
    if done.returncode != 0 or not any(staging.glob(f"kafka_2.13-{version}.jar")):
        tail = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        raise Unavailable(f"Maven could not fetch Kafka {version} (exit {done.returncode}): {tail}")
    (staging / _COMPLETE).write_text(version)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def log4j2_config(version: str | None = None) -> Path:
    """The broker's logging configuration, written next to the jars."""
    path = cache_dir(version) / "log4j2.yaml"
    if not path.exists() or path.read_text() != _LOG4J2:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_LOG4J2)
        tmp.replace(path)
    return path


def classpath(version: str | None = None) -> str:
    return str(ensure_jars(version) / "*")


def class_archive(kind: str, version: str | None = None) -> Path:
    """Where the JVM's class-data-sharing archive for `kind` ("format", "broker") lives: loading the
    broker's ~5,000 classes from it instead of from the jars makes a JVM start several times faster.
    It belongs to one Java build, so the path names it."""
    java = Path(java_binary()).resolve()
    build = f"{java.parent.parent.name}-{int(java.stat().st_mtime)}"
    return cache_dir(version) / "cds" / f"{kind}-{build}.jsa"

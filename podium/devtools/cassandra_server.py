"""A real single-node Apache Cassandra 5 (the `cassandra-all` jars from Maven Central, Java 17) for
the history-store tests, the history bench and the local stack.

The node gets its own directory, free ports, a small heap and the JVM flags Cassandra's own
`jvm17-server.options` sets; gossip settling and ring delay are shortened because a lone node has
nobody to wait for. The child gets PR_SET_PDEATHSIG (like `podium.redis_server`), and start()
returns once the native (CQL) port answers. A class-data-sharing archive, recorded by the first
start, makes later starts load Cassandra's classes from one mapped file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from podium.devtools.cassandra_dist import CASSANDRA, logback_config
from podium.devtools.maven_dist import java_binary
from podium.errors import Unavailable
from podium.processes import die_with_parent, stop_process
from podium.redis_server import free_port

START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 20.0
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"

# From Cassandra 5.0's conf/jvm17-server.options (JPMS section): what the server reaches into.
_EXPORTS = ["java.base/jdk.internal.misc", "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry", "java.rmi/sun.rmi.server", "java.sql/java.sql",
            "java.base/java.lang.ref", "jdk.unsupported/sun.misc", "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach"]
_OPENS = ["java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
          "java.base/jdk.internal.reflect", "java.base/jdk.internal.math", "java.base/jdk.internal.module",
          "java.base/jdk.internal.util.jar", "jdk.management/com.sun.management.internal",
          "java.base/sun.nio.ch", "java.base/java.io", "java.base/java.nio", "java.base/java.lang.reflect",
          "jdk.compiler/com.sun.tools.javac", "java.base/java.lang", "java.base/java.util"]


def _yaml(root: Path, native_port: int, storage_port: int) -> str:
    return f"""cluster_name: podium-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {native_port}
start_native_transport: true
endpoint_snitch: SimpleSnitch
auto_snapshot: false
snapshot_on_duplicate_row_detection: false
concurrent_reads: 8
concurrent_writes: 16
concurrent_compactors: 1
memtable_heap_space: 128MiB
batch_size_warn_threshold: 64KiB
batch_size_fail_threshold: 1MiB
# A node sharing 2 loaded cores with its client (and JIT-compiling for its first minute) answers
# slowly, not wrongly: the 2 s defaults failed writes of a bench whose node was merely starved.
write_request_timeout: 10000ms
read_request_timeout: 10000ms
range_request_timeout: 20000ms
data_file_directories: [{root / "data"}]
commitlog_directory: {root / "commitlog"}
saved_caches_directory: {root / "saved_caches"}
hints_directory: {root / "hints"}
cdc_raw_directory: {root / "cdc_raw"}
"""


class CassandraServer:
    """One Cassandra 5 node on 127.0.0.1: `with CassandraServer(dir) as server: server.port`."""

    def __init__(self, data_dir: Path, *, heap_mb: int = 512, archive: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.heap_mb = heap_mb
        self.port = free_port()
        self.storage_port = free_port()
        self.jmx_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dump_archive = archive   # set only by ensure_class_archive()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "system.log"

    def command(self) -> list[str]:
        if self._dump_archive is not None:
            cds = [f"-XX:ArchiveClassesAtExit={self._dump_archive}"]
        else:
            path = CASSANDRA.class_archive("server")
            cds = [f"-XX:SharedArchiveFile={path}"] if path.exists() else []
        return [
            java_binary("Cassandra 5 needs Java 17"), f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-Xss512k",
            "-XX:+UseSerialGC", "-Xshare:auto", *cds, "-XX:-UsePerfData",
            "-Djava.awt.headless=true", "-Djdk.attach.allowAttachSelf=true",
            *[f"--add-exports={m}=ALL-UNNAMED" for m in _EXPORTS],
            *[f"--add-opens={m}=ALL-UNNAMED" for m in _OPENS],
            "-Dio.netty.tryReflectionSetAccessible=true",
            f"-Dcassandra.config=file://{self.data_dir / 'cassandra.yaml'}",
            f"-Dcassandra.logdir={self.data_dir / 'logs'}", f"-Dlogback.configurationFile={logback_config()}",
            f"-Dcassandra.storagedir={self.data_dir}", f"-Dcassandra.jmx.local.port={self.jmx_port}",
            "-Dcassandra-foreground=yes", "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.ring_delay_ms=100", "-Dcassandra.superuser_setup_delay_ms=0",
            "-Dcassandra.load_ring_state=false",
            "-cp", CASSANDRA.classpath(), MAIN_CLASS,
        ]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        self.spawn()
        return self.wait_ready(timeout_s)

    def spawn(self) -> Self:
        """Start the JVM and return at once (`wait_ready` waits for the CQL port)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        (self.data_dir / "cassandra.yaml").write_text(_yaml(self.data_dir, self.port, self.storage_port))
        if self._dump_archive is None:
            ensure_class_archive()
        out = open(self.data_dir / "logs" / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.data_dir, preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        out.close()
        return self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        if self.process is None:
            raise Unavailable("cassandra was not spawned")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"cassandra exited with {self.process.returncode}: {self._tail()}")
            if self.ping():
                return self
            time.sleep(0.2)
        self.stop()
        raise Unavailable(f"cassandra did not open port {self.port} within {timeout_s:.0f}s: {self._tail()}")

    def _tail(self) -> str:
        texts = [p.read_text(errors="replace")[-1500:] for p in (self.log_path, self.data_dir / "logs" / "stdout.log")
                 if p.exists()]
        return " | ".join(texts)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """A clean stop (SIGTERM: Cassandra drains and flushes), then SIGKILL after STOP_TIMEOUT_S."""
        proc, self.process = self.process, None
        if proc is not None:
            stop_process(proc, STOP_TIMEOUT_S, STOP_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_class_archive() -> None:
    """Record the classes a node's start loads, once per Cassandra version and Java build (a
    throw-away node started and stopped under -XX:ArchiveClassesAtExit), so every later node maps
    them from the archive. Without it everything still works, only slower."""
    target = CASSANDRA.class_archive("server")
    if target.exists() or os.environ.get("PODIUM_CASSANDRA_NO_CDS"):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".cds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return
        with tempfile.TemporaryDirectory(prefix="podium-cassandra-cds-") as tmp:
            partial = Path(tmp) / "server.jsa"
            node = CassandraServer(Path(tmp) / "node", archive=partial)
            try:
                node.start()
            finally:
                node.stop()   # the JVM writes its archive on a clean exit
            if partial.exists() and partial.stat().st_size > 0:
                shutil.move(partial, target)   # /tmp may be another file system

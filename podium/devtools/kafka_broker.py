"""Starts real Apache Kafka brokers (KRaft, no ZooKeeper) as child JVMs: one broker or a cluster.

Every node is a combined broker + controller on two free ports of 127.0.0.1. `start()` formats each
node's storage with the storage tool (once: a restart keeps the log), starts the JVMs and returns when
the metadata names every broker and an active controller. Used by the stream tests, `podium bench
kafka` and `podium up --kafka`. Like `podium.redis_server`, each child gets PR_SET_PDEATHSIG so a
killed parent leaves no orphan JVM, and each is stopped by its pid (SIGTERM, or SIGKILL for fault
tests). The jars come from `podium.devtools.kafka_dist` (Maven Central, cached).

The settings favour a quick start on a small machine (few threads, a small heap, C1 only, no initial
rebalance delay, internal topics of 4 partitions) and quick fail-over in fault tests (a broker whose
heartbeats stop is fenced after 4 s and leaves every ISR).
"""

from __future__ import annotations

import base64
import fcntl
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from aiokafka.errors import KafkaError

from podium.devtools import kafka_dist, kafka_probe
from podium.errors import Unavailable
from podium.processes import die_with_parent
from podium.redis_server import _port_is_free

START_TIMEOUT_S = 120.0      # a loaded 2-core machine; a broker alone starts in ~5-10 s
STOP_TIMEOUT_S = 30.0        # a clean shutdown moves leadership away first
FORMAT_TIMEOUT_S = 120.0
PORT_MIN, PORT_MAX = 12_000, 32_000


def _node_properties(cluster: KafkaCluster, node: BrokerNode) -> dict[str, str]:
    n = len(cluster.nodes)
    isr_min = str(min(2, n))
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(f"{x.node_id}@127.0.0.1:{x.controller_port}" for x in cluster.nodes),
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node.log_dir),
        "num.partitions": str(cluster.partitions),
        "default.replication.factor": str(n),
        "min.insync.replicas": isr_min,
        "offsets.topic.replication.factor": str(n),
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": str(n),
        "transaction.state.log.min.isr": isr_min,
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(n),
        "share.coordinator.state.topic.min.isr": isr_min,
        "group.initial.rebalance.delay.ms": "0",
        "auto.leader.rebalance.enable": "false",    # no leadership moves the tests did not cause
        "unclean.leader.election.enable": "false",  # an out-of-sync replica never becomes leader
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "4000",        # a killed broker is fenced (and leaves every ISR) after this
        "replica.lag.time.max.ms": "5000",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "num.replica.fetchers": "1",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    props.update(cluster.overrides)
    return props


@dataclass
class BrokerNode:
    """One combined broker + controller JVM."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log_tail(self) -> str:
        out = []
        for name in ("stdout.log", "broker.log"):
            path = self.data_dir / name
            if path.exists():
                out.append(path.read_text(errors="replace")[-1500:])
        return "\n".join(out)


class KafkaCluster:
    """`brokers` Apache Kafka nodes on 127.0.0.1 sharing one KRaft quorum (1: a single broker).

    With 3 nodes every topic and internal topic has replication factor 3 and `min.insync.replicas=2`:
    an `acks=all` write survives any one node killed."""

    def __init__(self, data_dir: Path, brokers: int = 1, *, partitions: int = 4, heap_mb: int = 384,
                 fast_jit: bool = True, overrides: dict[str, str] | None = None) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.data_dir = Path(data_dir)
        self.partitions = partitions
        self.heap_mb = heap_mb
        self.fast_jit = fast_jit       # C1 only: a quicker start, a lower peak (benchmarks turn it off)
        self.overrides = dict(overrides or {})
        ports = _stable_ports(2 * brokers)
        self.nodes = [BrokerNode(i + 1, ports[2 * i], ports[2 * i + 1], self.data_dir / f"node-{i + 1}")
                      for i in range(brokers)]
        # a data dir formatted before (`podium up --kafka` run again) keeps its cluster id
        self.cluster_id = _formatted_cluster_id(self.nodes[0]) or \
            base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.startup_s: float | None = None     # the last start(), formatting included
        self._dump_archives: dict[str, Path] = {}  # set only by ensure_class_archives()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def pids(self) -> list[int | None]:
        return [node.pid for node in self.nodes]

    def node(self, node_id: int) -> BrokerNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Format what is not formatted yet, start every node that is down, wait until all serve."""
        started = time.monotonic()
        if not self._dump_archives:
            ensure_class_archives()
        try:
            self._format([n for n in self.nodes if not (n.log_dir / "meta.properties").exists()])
            for node in self.nodes:
                if not node.alive():
                    self._spawn(node)
            self.wait_ready()
        except BaseException:
            self.stop(kill=True)
            raise
        self.startup_s = time.monotonic() - started
        return self

    def start_node(self, node_id: int) -> None:
        """Bring one stopped node back (same ports, same log) and wait until the cluster serves again."""
        node = self.node(node_id)
        if not node.alive():
            self._spawn(node)
        self.wait_ready()

    def stop(self, *, kill: bool = False) -> None:
        for node in self.nodes:
            self._signal(node, kill)
        for node in self.nodes:
            self._reap(node)

    def stop_node(self, node_id: int, *, kill: bool = False) -> None:
        """Stop one node: SIGTERM (a controlled shutdown) or SIGKILL (a crash)."""
        node = self.node(node_id)
        self._signal(node, kill)
        self._reap(node)

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> Self:
        """Stop every node, stay down `down_s` seconds, start again on the same ports and logs."""
        self.stop(kill=kill)
        time.sleep(down_s)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- metadata ------------------------------------------------------------------------------

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Return once every live node listens and the metadata names them all and a controller."""
        deadline = time.monotonic() + timeout_s
        live = [n for n in self.nodes if n.alive()]
        last = "no node listening"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise Unavailable(f"kafka node {node.node_id} exited with {node.process.returncode}:\n"
                                      f"{node.log_tail()}")
            if all(n.listening() for n in live):
                try:
                    brokers, controller = kafka_probe.run_sync(kafka_probe.describe_cluster(self.bootstrap))
                except (KafkaError, OSError, TimeoutError) as exc:
                    last = repr(exc)
                else:
                    if brokers >= {n.node_id for n in live} and controller >= 0:
                        return
                    last = f"brokers {sorted(brokers)}, controller {controller}"
            time.sleep(0.1)
        raise Unavailable(f"kafka did not serve within {timeout_s:.0f}s ({last})")

    def leader_of(self, topic: str, partition: int) -> int:
        """The node id leading `topic`'s `partition` now (-1: none)."""
        return kafka_probe.run_sync(kafka_probe.partition_leader(self.bootstrap, topic, partition))

    # -- processes -----------------------------------------------------------------------------

    def _jvm(self, main_class: str, *args: str, log_dir: Path, archive: str) -> list[str]:
        jit = ["-XX:TieredStopAtLevel=1"] if self.fast_jit else []
        dump = self._dump_archives.get(archive)
        if dump is not None:
            cds = [f"-XX:ArchiveClassesAtExit={dump}"]
        else:
            path = kafka_dist.class_archive(archive)
            cds = [f"-XX:SharedArchiveFile={path}"] if path.exists() else []
        return [kafka_dist.java_binary(), f"-Xmx{self.heap_mb}m", "-Xms64m", "-Xss512k", "-XX:+UseSerialGC",
                *jit, "-Xshare:auto", *cds, "-XX:-UsePerfData", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={kafka_dist.log4j2_config()}", f"-Dkafka.logs.dir={log_dir}",
                "-cp", kafka_dist.classpath(), main_class, *args]

    def _write_config(self, node: BrokerNode) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{k}={v}\n" for k, v in _node_properties(self, node).items())
        node.config_path.write_text(text)

    def _format(self, nodes: list[BrokerNode]) -> None:
        """Format the nodes' storage with the cluster id, in parallel (one JVM start each)."""
        tool = storage_tool_class()
        runs = []
        for node in nodes:
            self._write_config(node)
            # `--cluster-id=` form: a base64 id may begin with "-", which would read as an option
            runs.append((node, subprocess.Popen(
                self._jvm(tool, "format", f"--cluster-id={self.cluster_id}", f"--config={node.config_path}",
                          log_dir=node.data_dir, archive="format"),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the death signal
            )))
        failures = []
        for node, proc in runs:   # every run is reaped (and its pipe closed) before any error is raised
            try:
                out, _ = proc.communicate(timeout=FORMAT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                failures.append(f"formatting kafka node {node.node_id} took over {FORMAT_TIMEOUT_S:.0f}s")
                continue
            if proc.returncode != 0:
                failures.append(f"formatting kafka node {node.node_id} failed: {out.decode(errors='replace')[-2000:]}")
        if failures:
            raise Unavailable("; ".join(failures))

    def _spawn(self, node: BrokerNode) -> None:
        self._write_config(node)
        log = open(node.data_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        node.process = subprocess.Popen(
            self._jvm("kafka.Kafka", str(node.config_path), log_dir=node.data_dir, archive="broker"),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the death signal
        )
        log.close()

    @staticmethod
    def _signal(node: BrokerNode, kill: bool) -> None:
        if node.alive():
            assert node.process is not None
            node.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)

    @staticmethod
    def _reap(node: BrokerNode) -> None:
        proc, node.process = node.process, None
        if proc is None:
            return
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


def _stable_ports(count: int) -> list[int]:
    """Free ports below Linux's ephemeral range (32768+): a node that is down keeps its ports, and a
    port from bind(0) could meanwhile be handed out as the source port of any outgoing connection."""
    rng = random.Random()
    ports: list[int] = []
    for _ in range(2000):
        port = rng.randint(PORT_MIN, PORT_MAX)
        if port not in ports and _port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise Unavailable(f"no {count} free ports between {PORT_MIN} and {PORT_MAX}")


def ensure_class_archives() -> None:
    """Record which classes formatting and a broker's start load, once per Kafka version and Java
    build (a throw-away broker started and stopped under -XX:ArchiveClassesAtExit), so every later
    JVM maps them from the archive. Without the archives everything still works, only slower."""
    targets = {kind: kafka_dist.class_archive(kind) for kind in ("format", "broker")}
    if all(path.exists() for path in targets.values()):
        return
    lock_path = kafka_dist.cache_dir() / ".cds.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(path.exists() for path in targets.values()):
            return
        for path in targets.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="podium-kafka-cds-") as tmp:
            partial = {kind: Path(tmp) / f"{kind}.jsa" for kind in targets}
            broker = KafkaCluster(Path(tmp) / "broker")
            broker._dump_archives = partial   # the one caller that dumps
            broker.start()
            broker.stop()                     # the JVM writes its archive on a clean exit
            for kind, path in partial.items():
                if path.exists() and path.stat().st_size > 0:
                    shutil.move(path, targets[kind])   # /tmp may be another file system


def _formatted_cluster_id(node: BrokerNode) -> str | None:
    meta = node.log_dir / "meta.properties"
    if not meta.exists():
        return None
    for line in meta.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    return None


def storage_tool_class() -> str:
    """The storage tool's main class: `kafka.tools.StorageTool` in the broker jar (3.x and 4.x so
    far), `org.apache.kafka.tools.StorageTool` where a release moved it to the tools jar."""
    libs = kafka_dist.ensure_jars()
    for jar in sorted(libs.glob("kafka_2.13-*.jar")):
        if "kafka/tools/StorageTool.class" in zipfile.ZipFile(jar).namelist():
            return "kafka.tools.StorageTool"
    return "org.apache.kafka.tools.StorageTool"

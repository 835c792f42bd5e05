"""Stream fixtures: real Apache Kafka (one broker for the suite, a 3-broker cluster for the durability
tests; or the cluster named by PODIUM_TEST_KAFKA), region servers and
`podium worker` processes configured by env."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from podium.devtools.kafka_broker import KafkaCluster
from podium.devtools.kafka_probe import run_sync
from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET

EXTERNAL_KAFKA = os.environ.get("PODIUM_TEST_KAFKA")
_prefixes = count()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[KafkaCluster | None]:
    """One local Apache Kafka broker for the whole session (None when the tests run against PODIUM_TEST_KAFKA)."""
    if EXTERNAL_KAFKA:
        yield None
        return
    with KafkaCluster(tmp_path_factory.mktemp("kafka")) as broker:
        say(pytestconfig, f"[kafka] one broker up in {broker.startup_s:.1f}s (formatting included)")
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaCluster | None) -> str:
    return EXTERNAL_KAFKA or kafka_broker.bootstrap  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[KafkaCluster]:
    """Three local brokers (replication factor 3, min.insync.replicas 2) for the tests that kill one;
    stopped after their module, as three idle JVMs still cost CPU."""
    with KafkaCluster(tmp_path_factory.mktemp("kafka3"), brokers=3) as cluster:
        say(pytestconfig, f"[kafka] 3-broker cluster up in {cluster.startup_s:.1f}s (formatting included)")
        yield cluster


def say(config: pytest.Config, message: str) -> None:
    """Print a measured figure past pytest's capture (it belongs in the run's output)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{message}", flush=True)


def stream_env(redis_url: str, bootstrap: str, **extra: str) -> dict[str, str]:
    """Env for a region server and its workers; a fresh topic prefix isolates each test's topics and group."""
    env = {
        "REDIS_URL": redis_url,
        "PODIUM_REGION": "eu",
        "PODIUM_KAFKA__BOOTSTRAP": bootstrap,
        "PODIUM_KAFKA__TOPIC_PREFIX": f"t{os.getpid()}x{next(_prefixes)}x{time.monotonic_ns() % 10**6}",
        "PODIUM_KAFKA__TAKE_WITHIN_MS": "20",
        "PODIUM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "PODIUM_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "PODIUM_KAFKA__COMMIT_INTERVAL_MS": "500",
        "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}),
        "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "PODIUM_API__RATE_LIMIT_PER_S": "100000",
        "PODIUM_API__RATE_LIMIT_BURST": "100000",
        "PODIUM_API__CACHE_TTL_MS": "0",
        "PODIUM_DATA_DIR": tempfile.mkdtemp(prefix="podium-stream-"),   # the server's and workers' warm store
    }
    env.update(extra)
    return env


class WorkerProcess:
    """`python -m podium worker` as a child process, stopped by its pid (SIGTERM, or SIGKILL: a crash)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="podium-worker-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "podium", "worker", "--loglevel", os.environ.get("PODIUM_TEST_WORKER_LOGLEVEL", "warn")], env=self.env,
            cwd=tempfile.gettempdir(), stdout=self.log, stderr=subprocess.STDOUT,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


class StreamRegion:
    """A region server in event-log mode plus its workers, sharing one env."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.server = ServerProcess(env)
        self.workers: list[WorkerProcess] = []

    @property
    def url(self) -> str:
        return self.server.url

    def add_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env).start()
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
            worker.log.close()
            os.unlink(worker.log.name)
        self.server.stop()
        # the session's broker stays small: every partition left behind slows its restarts
        run_sync(drop_topics(self.env["PODIUM_KAFKA__BOOTSTRAP"], self.env["PODIUM_KAFKA__TOPIC_PREFIX"]))


@contextlib.contextmanager
def region_replicating_over_kafka(redis_url: str, bootstrap: str, global_redis_url: str,
                                  **replication: str) -> Iterator[tuple[StreamRegion, ServerProcess]]:
    """A region in event-log mode with one worker, shipping to a global tier over the same Kafka
    topics (one prefix for both); stopped, its topics dropped, on exit."""
    region_env = stream_env(redis_url, bootstrap, **replication)
    global_env = {**stream_env(global_redis_url, bootstrap, **replication),
                  "PODIUM_KAFKA__TOPIC_PREFIX": region_env["PODIUM_KAFKA__TOPIC_PREFIX"]}
    global_node = ServerProcess(global_env, role="global").start()
    region = StreamRegion({**region_env, "PODIUM_GLOBAL__URL": global_node.url})
    try:
        region.server.start()
        region.add_worker()
        yield region, global_node
    finally:
        region.close()
        global_node.stop()


async def drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics a test made (its prefix; Faust's assignor topic included). Best effort: a
    test that failed may have left the broker down."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    with contextlib.suppress(KafkaError, OSError, TimeoutError):
        try:
            await asyncio.wait_for(admin.start(), 10)
            names = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


@pytest.fixture
def stream_region(redis_server: RedisServer, kafka_bootstrap: str) -> Iterator[Any]:
    """A factory: `stream_region(workers=1, bootstrap=None, **env)` starts a region server and workers
    (on the session's broker unless `bootstrap` names another cluster)."""
    made: list[StreamRegion] = []

    def make(workers: int = 1, bootstrap: str | None = None, **extra: str) -> StreamRegion:
        region = StreamRegion(stream_env(redis_server.url, bootstrap or kafka_bootstrap, **extra))
        made.append(region)
        region.server.start()
        for _ in range(workers):
            region.add_worker()
        return region

    yield make
    for region in made:
        region.close()


def wait_until(predicate: Any, timeout_s: float = 30.0, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last: {last!r})")


def admin_get(base: str, path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{base}{path}", params=params, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]

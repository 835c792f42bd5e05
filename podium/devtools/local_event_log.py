"""The event log of a local region (`podium up --kafka`): one Apache Kafka broker and the region's
stream worker (`podium worker`, Faust) as child processes, next to the embedded Redis.

The broker keeps its log under the data dir, so a second `podium up --kafka` on the same data dir
resumes the same log (and the worker its consumer group's offsets). Both children get
PR_SET_PDEATHSIG: a killed `podium up` leaves no orphan JVM or worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Self

from podium.config import Settings
from podium.devtools.kafka_broker import KafkaCluster
from podium.processes import die_with_parent, stop_process

WORKER_STOP_TIMEOUT_S = 15.0


class LocalEventLog:
    """A one-broker Kafka and one stream worker for `settings` (whose `redis_url` must be set)."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.broker = KafkaCluster(data_dir / "kafka")
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = data_dir / "worker.log"

    def start(self) -> Self:
        """Start the broker, point `settings` at it, then start the worker."""
        self.broker.start()
        self.settings.kafka.bootstrap = self.broker.bootstrap
        try:
            self.worker = self._spawn_worker()
        except BaseException:
            self.broker.stop()
            raise
        return self

    def worker_env(self) -> dict[str, str]:
        """The worker is configured like the server: the same Redis, broker, region, topics and warm store."""
        s = self.settings
        env = dict(os.environ)     # the user's PODIUM_* settings apply to both
        env.update({
            "REDIS_URL": s.redis_url or "",
            "PODIUM_REGION": s.region,
            "PODIUM_DATA_DIR": str(s.data_dir),
            "PODIUM_KAFKA__BOOTSTRAP": self.broker.bootstrap,
            "PODIUM_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix,
            "PODIUM_KAFKA__SCORES_PARTITIONS": str(s.kafka.scores_partitions),
            "PODIUM_HISTORY__WRITER_PLACEMENT": s.history.writer_placement,   # `podium up` may run the writer apart
        })
        if s.kafka.group_id:
            env["PODIUM_KAFKA__GROUP_ID"] = s.kafka.group_id
        return env

    def _spawn_worker(self) -> subprocess.Popen[bytes]:
        self.worker_log.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.worker_log, "ab")  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "podium", "worker"], env=self.worker_env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,  # noqa: PLW1509 - only the death signal
            )
        finally:
            log.close()

    def stop(self) -> None:
        """The worker first (it commits its offsets to the broker), then the broker."""
        worker, self.worker = self.worker, None
        if worker is not None:
            stop_process(worker, WORKER_STOP_TIMEOUT_S, WORKER_STOP_TIMEOUT_S)
        self.broker.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

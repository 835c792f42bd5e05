"""Starts a Kafka-protocol broker from the native server the `noida-db` wheel ships.

Used by the stream tests and the Kafka ingest benchmark (no Docker, no JVM). Like
`podium.redis_server`, the child gets PR_SET_PDEATHSIG so a killed parent leaves no orphan, and it is
stopped by its pid. `restart()` keeps the data dir and the port: a broker restart must lose no
acknowledged record.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Self

from podium.errors import Unavailable
from podium.redis_server import _die_with_parent, free_port

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def kafka_server_binary() -> str:
    return str(resources.files("noida_db").joinpath("noida-db"))


class KafkaServer:
    """One Kafka-protocol broker child process on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "broker.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [kafka_server_binary(), "start", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--only", "kafka", "--kafka-port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets the death signal
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.data_dir / "broker.log").read_text(errors="replace")[-2000:]
                raise Unavailable(f"kafka server exited with {self.process.returncode}: {tail}")
            if self.listening():
                return self
            time.sleep(0.02)
        self.stop()
        raise Unavailable(f"kafka server did not listen on port {self.port} within {START_TIMEOUT_S}s")

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> KafkaServer:
        """Stop, stay down `down_s` seconds, and start again on the same port and data dir."""
        self.stop(kill=kill)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.listening() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(down_s)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

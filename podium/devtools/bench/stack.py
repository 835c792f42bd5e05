"""The local stack a bench run measures: an embedded redis-server and a region server in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Self

from podium.devtools.stack_writer import WriterProcess
from podium.processes import wait_ready
from podium.redis_server import RedisServer, free_port

GAME_KEY_ID = "bench"
GAME_SECRET = "bench-secret"
ADMIN_KEY = "bench-admin"
BOARDS = ["ingest", "read"]
START_TIMEOUT_S = 120.0       # a loaded CI machine can take a minute to import and start the server


class BenchStack:
    """Redis plus `python -m podium serve` configured by environment; the server's CPU is its own."""

    def __init__(self, extra_env: dict[str, str] | None = None, serve_args: list[str] | None = None) -> None:
        self.extra_env = extra_env or {}    # settings a scenario adds (PODIUM_* variables)
        self.serve_args = serve_args or []  # options of `podium serve` (`--loop uvloop`)
        self.tmp = tempfile.TemporaryDirectory(prefix="podium-bench-")
        self.redis = RedisServer(Path(self.tmp.name) / "redis", appendonly=False)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # the history writer's own process, when the region runs with history.writer_placement=separate
        self.writer: WriterProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.redis.start()
        env = dict(os.environ)
        env.update({
            "PODIUM_REDIS_URL": self.redis.url,
            "PODIUM_PORT": str(self.port),
            "PODIUM_REGION": "bench",
            "PODIUM_DATA_DIR": str(Path(self.tmp.name) / "data"),
            "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}),
            "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
            "PODIUM_BOARDS": json.dumps([{"id": b} for b in BOARDS]),
            # The bench measures throughput, so the per-client token bucket must not be what it hits.
            "PODIUM_API__RATE_LIMIT_PER_S": "1000000000",
            "PODIUM_API__RATE_LIMIT_BURST": "1000000000",
        })
        env.update(self.extra_env)
        if env.get("PODIUM_HISTORY__WRITER_PLACEMENT") == "separate":
            self.writer = WriterProcess(env, Path(self.tmp.name) / "history-writer.log")
            self.writer.spawn()
        self.log_path = Path(self.tmp.name) / "region.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "podium", "serve", *self.serve_args], env=env,
                                            stdout=subprocess.DEVNULL, stderr=log)
        proc = self.process
        if wait_ready(self.url, START_TIMEOUT_S, alive=lambda: proc.poll() is None):
            return self
        if proc.poll() is not None:
            raise RuntimeError(f"region server exited: {self.log_path.read_text()[-2000:]}")
        raise RuntimeError("region server did not become ready")

    def region_rss_bytes(self) -> int | None:
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.redis.stop()
        self.tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Baselines measured in the same run: redis-benchmark, a hand-written redis-py pipeline, the peer library."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

PEER_REQUIREMENTS = ["leaderboard==3.7.3", "redis==2.10.6"]
PEER_TIMEOUT_S = 600
INSTALL_HINT = "redis-benchmark not found: install it with `apt-get install redis-tools`"


def not_measured(reason: str) -> dict[str, Any]:
    return {"measured": False, "reason": reason}


def redis_benchmark(port: int, command: list[str], requests: int, pipeline: int = 1, clients: int = 50) -> dict[str, Any]:
    """One redis-benchmark test; requests/s as reported by its CSV output."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return not_measured(INSTALL_HINT)
    args = [exe, "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", str(clients),
            "-P", str(pipeline), "-r", "1000000", "--csv", *command]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    rows = [r for r in csv.reader(io.StringIO(out.stdout)) if r and r[0] != "test"]
    if out.returncode != 0 or not rows:
        return not_measured(f"redis-benchmark failed: {out.stderr.strip()[:200]}")
    row = rows[-1]
    result: dict[str, Any] = {"measured": True, "rps": float(row[1]), "items_per_s": float(row[1])}
    if len(row) >= 8:  # redis 7: rps, avg, min, p50, p95, p99, max
        result.update(p50_ms=float(row[4]), p95_ms=float(row[5]), p99_ms=float(row[6]))
    return result


def redis_py_pipeline(url: str, scores: int, batch: int = 1000) -> dict[str, Any]:
    """What a user writes by hand: one ZADD per score, pipelined `batch` at a time."""
    client = redis.Redis.from_url(url)
    start = time.perf_counter()
    done = 0
    while done < scores:
        pipe = client.pipeline(transaction=False)
        for _ in range(batch):
            pipe.zadd("baseline:redis-py", {f"p{random.randrange(1_000_000)}": random.randrange(10**9)})
        pipe.execute()
        done += batch
    seconds = time.perf_counter() - start
    client.delete("baseline:redis-py")
    client.close()
    return {"measured": True, "items_per_s": round(done / seconds, 1)}


class Peer:
    """The agoragames `leaderboard` library in a venv the bench creates, driven as a subprocess."""

    def __init__(self, cache_dir: Path, enabled: bool = True) -> None:
        self.venv = cache_dir / "peer-venv"
        self.enabled = enabled
        self.error: str | None = None if enabled else "peer library disabled in this configuration"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def ensure(self) -> bool:
        if self.error is not None:
            return False
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=PEER_TIMEOUT_S)
        probe = subprocess.run([str(self.python), "-c", "import leaderboard, redis"], capture_output=True, check=False)
        if probe.returncode != 0:
            pip = subprocess.run([str(self.python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                                 capture_output=True, text=True, timeout=PEER_TIMEOUT_S, check=False)
            if pip.returncode != 0:
                self.error = f"could not install {PEER_REQUIREMENTS}: {pip.stderr.strip()[-300:]}"
                return False
        return True

    def run(self, port: int, op: str, count: int) -> dict[str, Any]:
        if not self.ensure():
            return not_measured(self.error or "peer unavailable")
        script = Path(__file__).with_name("peer.py")
        out = subprocess.run([str(self.python), str(script), str(port), op, str(count)],
                             capture_output=True, text=True, timeout=PEER_TIMEOUT_S, check=False)
        if out.returncode != 0:
            return not_measured(f"peer {op} failed: {out.stderr.strip()[-300:]}")
        return {"measured": True, **json.loads(out.stdout)}

"""`podium up` starts an embedded redis-server and a region, answers GraphQL, and on Ctrl-C stops
everything it started (no orphan redis-server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from podium.redis_server import free_port


def _redis_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-e"], capture_output=True, text=True, check=True).stdout
    return [int(p) for p, pp, comm in (line.split(None, 2) for line in out.splitlines()) if int(pp) == pid and "redis" in comm]


def test_up_serves_graphql_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PODIUM_REDIS_URL")}
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "up", "--port", str(port), "--data-dir", str(tmp_path), "--demo"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 60   # the stack starts four processes: generous on a loaded CI machine
        data = None
        while time.monotonic() < deadline:
            try:
                doc = httpx.post(f"http://127.0.0.1:{port}/graphql", json={
                    "query": '{ leaderboard(board:"arena", first:5){ totalCount edges { node { rank player score } } } }'
                }, timeout=2).json()
                if doc.get("data") and doc["data"]["leaderboard"]["totalCount"] > 0:
                    data = doc["data"]["leaderboard"]
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert data is not None, "podium up did not serve a moving demo board within 60s"
        ranks = [e["node"]["rank"] for e in data["edges"]]
        assert ranks == list(range(1, len(ranks) + 1))
        trending = None
        while time.monotonic() < deadline + 10 and not trending:
            doc = httpx.post(f"http://127.0.0.1:{port}/graphql", json={
                "query": '{ trending(stream:"map_played", last:"15m", k:3){ total items { rank item count } } }'
            }, timeout=2).json()
            trending = doc["data"]["trending"]["items"] if doc.get("data") else None
            time.sleep(0.2)
        assert trending and trending[0]["rank"] == 1, "the demo posted no map plays to the trending stream"
        children = _redis_children(proc.pid)
        assert len(children) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    assert re.search(r"serving on http://127\.0\.0\.1:\d+", out)
    assert "stopped embedded redis-server" in out
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()

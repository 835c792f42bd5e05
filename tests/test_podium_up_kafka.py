"""`podium up --kafka` runs the region in event-log mode: an Apache Kafka broker and a stream worker
next to the embedded Redis; a batch posted with `?wait=true` comes back ranked through the log, and
Ctrl-C stops the worker, the broker and Redis (no orphan process)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from podium.redis_server import free_port
from podium.signing import signed_headers
from tests.region.helpers import now_ms


def _children(pid: int) -> dict[int, str]:
    out = subprocess.run(["ps", "-ww", "-o", "pid=,ppid=,args=", "-e"], capture_output=True, text=True, check=True).stdout
    rows = (line.split(None, 2) for line in out.splitlines())
    return {int(p): args for p, pp, args in rows if int(pp) == pid}


def test_up_kafka_ranks_through_the_event_log_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k not in ("REDIS_URL",)}
    env["COLUMNS"] = "300"
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "up", "--kafka", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    children: dict[int, str] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180      # the first run on a machine may fetch the jars
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        creds = json.loads((tmp_path / "credentials.json").read_text())
        raw = orjson.dumps({"entries": [{"board": "arena", "player": "kafka-fan", "score": 4242,
                                         "achieved_at": now_ms() - 1000, "event_id": "up-kafka-1"}]})
        ranked = None
        deadline = time.monotonic() + 120      # the worker joins its group after the API is up
        while time.monotonic() < deadline and ranked is None:
            h = signed_headers("demo-game-server", creds["game_server_secret"], "POST", "/v1/scores", now_ms(), raw)
            r = httpx.post(f"{base}/v1/scores?wait=true", content=raw, headers=h, timeout=30)
            assert r.status_code == 200, r.text
            (result,) = r.json()["results"]
            assert result["status"] == "accepted" and isinstance(result["offset"], int), result
            if result["ranked"]:
                ranked = result
        assert ranked is not None and ranked["rank"] == 1 and ranked["score"] == 4242, ranked
        children = _children(proc.pid)
        assert any("kafka.Kafka" in args for args in children.values()), children
        assert any("podium worker" in args for args in children.values()), children
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert re.search(r"Apache Kafka\s+on 127\.0\.0\.1:\d+", out), out
    assert "stopped the stream worker and the Kafka broker" in out
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()

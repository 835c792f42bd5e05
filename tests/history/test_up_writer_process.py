"""`podium up` runs the history writer as its own supervised process: the region's /readyz says so
(`history_backlog.writer_placement`), a kill -9 of the writer process is followed by a new one,
scores accepted while it was dead reach the warm store, and Ctrl-C leaves no writer behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from podium.redis_server import free_port
from podium.signing import signed_headers

DEADLINE_S = 60.0


def _writer_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,args=", "-e"], capture_output=True, text=True, check=True).stdout
    rows = (line.split(None, 2) for line in out.splitlines() if line.strip())
    return [int(p) for p, pp, args in rows if int(pp) == pid and "history-writer" in args]


def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _history_rows(db_path: Path) -> int:
    try:
        db = sqlite3.connect(db_path)
        try:
            return int(db.execute("SELECT count(*) FROM score_history").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_up_supervises_its_history_writer_process(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PODIUM_REDIS_URL")}
    env |= {"COLUMNS": "200", "PODIUM_HISTORY__BACKLOG_CLAIM_IDLE_MS": "1000",
            "PODIUM_SUPERVISOR__RESTART_BACKOFF_MS_INITIAL": "200", "PODIUM_SUPERVISOR__RESTART_BACKOFF_MS_MAX": "500"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "up", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    writers: list[int] = []
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200 and bool(_writer_children(proc.pid))
            except httpx.HTTPError:
                return False

        _until("podium up and its history writer", ready)
        report = httpx.get(f"{base}/readyz", timeout=5).json()["history_backlog"]
        assert report["writer_placement"] == "separate"
        [first] = writers = _writer_children(proc.pid)
        os.kill(first, signal.SIGKILL)

        creds = json.loads((tmp_path / "credentials.json").read_text())
        now = int(time.time() * 1000) - 1000
        body = orjson.dumps({"entries": [
            {"board": "arena", "player": f"w{i}", "score": i, "achieved_at": now, "event_id": f"up-{i}"}
            for i in range(20)]})
        rows_before = _history_rows(tmp_path / "history.sqlite3")
        headers = signed_headers("demo-game-server", creds["game_server_secret"], "POST", "/v1/scores",
                                 int(time.time() * 1000), body) | {"content-type": "application/json"}
        r = httpx.post(f"{base}/v1/scores", content=body, headers=headers, timeout=10)
        assert r.status_code == 200, r.text

        def restarted() -> bool:
            nonlocal writers
            writers = _writer_children(proc.pid)
            return bool(writers) and first not in writers

        _until("a new history writer process", restarted)
        _until("the scores in the warm store", lambda: _history_rows(tmp_path / "history.sqlite3") >= rows_before + 20)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    for pid in writers:   # stopped with the region, never orphaned
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()

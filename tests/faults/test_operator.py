"""`podium up` as an operator meets it: one clear line and a non-zero exit for a bad setting, a
taken port, a data dir in use or unusable; a port in TIME_WAIT counts as free; `podium env`
prints what the running `podium up` started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from podium.devtools.local_run import port_in_use
from podium.redis_server import free_port

START_TIMEOUT_S = 90   # cold imports are slow on a loaded 2-core machine


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
    return {**env, "COLUMNS": "200", **extra}


def _podium(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podium", *args], capture_output=True, text=True,
                          env=env or _env(), timeout=120, check=False)


def test_bad_settings_give_one_line_each() -> None:
    out = _podium("up", "--port", "0", env=_env(PODIUM_INGEST__BATCH_ENTRIES_MAX="abc",
                                                   PODIUM_GAME_SERVER_KEYS="notjson"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2, out.stderr
    assert any("PODIUM_GAME_SERVER_KEYS" in ln and "JSON object" in ln for ln in lines)
    assert any("PODIUM_INGEST__BATCH_ENTRIES_MAX" in ln and "integer" in ln and "'abc'" in ln for ln in lines)


def test_taken_port_gives_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _podium("up", "--port", str(port), "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == (f"podium up: port {port} on 127.0.0.1 is in use; stop what listens there, "
                                  "or pass --port N (--port 0: any free port)")
    assert out.stdout == ""


def test_unusable_data_dir_gives_one_line() -> None:
    out = _podium("up", "--port", "0", "--data-dir", "/proc/podium-data")   # /proc takes no directories
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["podium up: cannot use /proc/podium-data: No such file or directory"]


def test_port_in_time_wait_is_free() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()            # the server side closes first: its end of the connection sits in TIME_WAIT
    time.sleep(0.05)
    client.close()
    server.close()
    with socket.socket() as plain:   # what the old check did: a bind without SO_REUSEADDR sees it "busy"
        try:
            plain.bind(("127.0.0.1", port))
            plain_busy = False
        except OSError:
            plain_busy = True
    assert plain_busy, "the connection did not reach TIME_WAIT"
    assert not port_in_use("127.0.0.1", port)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert port_in_use("127.0.0.1", listening.getsockname()[1])


def test_second_up_on_one_data_dir_is_refused_and_env_prints_exports(tmp_path: Path) -> None:
    port = free_port()
    first = subprocess.Popen([sys.executable, "-m", "podium", "up", "--port", str(port), "--data-dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not (tmp_path / "podium-up.json").exists():
            assert first.poll() is None
            time.sleep(0.1)
        second = _podium("up", "--port", str(port), "--data-dir", str(tmp_path))   # its port is taken too
        assert second.returncode == 1
        assert second.stderr.strip() == (f"podium up: {tmp_path} is in use by podium up (pid {first.pid}) serving "
                                         f"http://127.0.0.1:{port}; stop it, or pass another --data-dir")
        env = _podium("env", "--data-dir", str(tmp_path))
        assert env.returncode == 0, env.stderr
        exports = dict(line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines())
        assert exports["PODIUM_URL"] == f"http://127.0.0.1:{port}"
        assert set(exports) >= {"PODIUM_GRAPHQL_URL", "GAME_KEY_ID", "GAME_SECRET", "ADMIN_KEY"}
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{exports['PODIUM_URL']}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        boards = httpx.get(f"{exports['PODIUM_URL']}/v1/admin/boards",
                           headers={"Authorization": f"Bearer {exports['ADMIN_KEY']}"})
        assert boards.status_code == 200, boards.text    # the exported admin key is the running one's
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert not (tmp_path / "podium-up.json").exists()
    assert _podium("env", "--data-dir", str(tmp_path)).returncode == 1

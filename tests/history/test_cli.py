"""`podium rebuild` and `podium snapshot take|list|restore` against a real Redis and the SQLite warm
store a region filled through the HTTP API: damaged boards come back equal to the oracle; a file
export restores into the warm store and, with --live, into Redis."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis

from podium.cli import main
from podium.keys import board_keys
from podium.ranking import encode_member
from podium.redis_server import RedisServer
from tests.history.scenario import Scenario, flushall, history_settings, start


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis-cli"), appendonly=False) as server:
        yield server


@pytest.fixture(scope="module")
def played(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scenario, Path]]:
    """A region's history (every operator), written through the API; the server is stopped."""
    flushall(redis_server.url)
    data_dir = tmp_path_factory.mktemp("cli-region")
    settings = history_settings(redis_server.url, data_dir)
    server = start(settings)
    try:
        play = Scenario(server.url, seed=5)
        play.create_boards()
        for _ in range(4):
            play.post_batch()
    finally:
        server.stop()
    yield play, data_dir


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, played: tuple[Scenario, Path]) -> Path:
    for name in ("PODIUM_CONFIG", "PODIUM_HISTORY__CASSANDRA_CONTACT_POINTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("PODIUM_DATA_DIR", str(played[1]))
    monkeypatch.setenv("PODIUM_HISTORY__REBUILD_SETTLE_MS", "0")
    return played[1]


def _restart_and_compare(play: Scenario, redis_url: str, data_dir: Path) -> None:
    server = start(history_settings(redis_url, data_dir))
    try:
        play.assert_boards_equal_oracle(server.url)
    finally:
        server.stop()


def test_rebuild_repairs_damaged_boards(env: Path, played: tuple[Scenario, Path], redis_server: RedisServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    play, data_dir = played
    r = sync_redis.Redis.from_url(redis_server.url)
    try:
        r.delete(board_keys("incr", 0).zset, board_keys("incr", 0).index)        # lost
        r.zadd(board_keys("best", 0).zset, {encode_member(1, "intruder"): -10**6})  # corrupted
    finally:
        r.close()
    assert main(["rebuild", "--board", "incr", "--board", "best"]) == 0
    out = capsys.readouterr().out
    assert f"rebuilt best season 0: {len(play.boards['best'].entries)} entries" in out   # the intruder is gone
    assert f"rebuilt incr season 0: {len(play.boards['incr'].entries)} entries" in out
    assert main(["rebuild", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(play.boards)
    _restart_and_compare(play, redis_server.url, data_dir)
    assert main(["rebuild", "--board", "nope"]) == 1
    assert "unknown board(s): nope" in capsys.readouterr().err


def test_snapshot_take_list_restore(env: Path, played: tuple[Scenario, Path], redis_server: RedisServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    play, data_dir = played
    assert main(["snapshot", "take", "--board", "latest"]) == 0
    path = Path(capsys.readouterr().out.strip().rsplit("→ ", 1)[1])
    assert path.parent == data_dir / "snapshots" and path.name.startswith("latest.s0.")
    assert main(["snapshot", "restore", str(path), "--board", "latest-copy"]) == 0
    assert "as latest-copy (season 0" in capsys.readouterr().out
    assert main(["snapshot", "list", "--board", "latest-copy"]) == 0
    assert capsys.readouterr().out.count("\n") == 1

    r = sync_redis.Redis.from_url(redis_server.url)
    try:
        r.delete(board_keys("latest", 0).zset, board_keys("latest", 0).index)
    finally:
        r.close()
    assert main(["snapshot", "restore", str(path), "--live"]) == 0
    assert "replaced the live standings of latest season 0" in capsys.readouterr().out
    _restart_and_compare(play, redis_server.url, data_dir)

    cut = path.with_name("cut.jsonl.gz")
    cut.write_bytes(gzip.compress(b"".join(gzip.decompress(path.read_bytes()).splitlines(keepends=True)[:-1])))
    assert main(["snapshot", "restore", str(cut)]) == 1
    assert "is truncated" in capsys.readouterr().err

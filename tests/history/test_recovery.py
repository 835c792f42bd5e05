"""Recovery through the real HTTP API: signed batches on every operator (ties, duplicates,
rejections, quarantine, a season reset), Redis flushed (FLUSHALL), the region restarted: every board,
its season and the archived season equal the exact oracle. On SQLite and on the Cassandra test server.
And crash-replay: replaying the same batches and history rows changes neither the history nor the
rebuilt board (an increment board included)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import ScoreRow, history_key

from podium.config import HistorySettings
from podium.redis_server import RedisServer
from tests.history.scenario import Scenario, flushall, history_settings, post_answered, start, wait_live
from tests.region.helpers import graphql

_keyspaces = count()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This module's own redis-server: its tests FLUSHALL."""
    with RedisServer(tmp_path_factory.mktemp("redis-recovery"), appendonly=False) as server:
        yield server


@pytest.fixture(params=["sqlite", "cassandra"])
def warm_store(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    if request.param == "sqlite":
        return None
    base: HistorySettings = request.getfixturevalue("cassandra_settings")
    return {"cassandra_contact_points": base.cassandra_contact_points, "cassandra_port": base.cassandra_port,
            "cassandra_protocol_version": base.cassandra_protocol_version,
            "cassandra_consistency": base.cassandra_consistency,
            "cassandra_keyspace": f"podium_r{os.getpid()}_{next(_keyspaces)}"}


def _history_of(base: str, board: str, player: str) -> list[tuple[str, int, int]]:
    doc = graphql(base, "query($p:String!,$b:String!){ player(id:$p){ history(board:$b, first:100)"
                        "{ eventId score achievedAt } } }", {"p": player, "b": board})
    assert "errors" not in doc, doc
    return [(h["eventId"], h["score"], h["achievedAt"]) for h in doc["data"]["player"]["history"]]


def _expected_history(entries: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    rows = {(e["event_id"], e["score"], e["achieved_at"]) for e in entries}
    return sorted(rows, key=lambda r: (r[2], r[0]), reverse=True)


def test_recovery_after_redis_loss(redis_server: RedisServer, tmp_path: Path, warm_store: dict[str, Any] | None) -> None:
    flushall(redis_server.url)
    settings = history_settings(redis_server.url, tmp_path, warm_store)
    server = start(settings)
    try:
        play = Scenario(server.url, seed=11)
        play.create_boards()
        for _ in range(5):
            play.post_batch()
        play.reset("best")                  # season 0 archived, season 1 starts empty
        for _ in range(5):
            play.post_batch()
        assert {"applied", "unchanged", "rejected", "quarantined"} <= set(play.statuses), play.statuses
        play.assert_boards_equal_oracle(server.url)
    finally:
        server.stop()                       # drains the history writer
    flushall(redis_server.url)              # Redis is lost: boards, ranks, seasons, dedup sets

    server = start(settings)
    try:
        wait_live(server.url, sorted(play.boards))
        seasons = {b["id"]: b["season"] for b in graphql(server.url, "{ boards { id season } }")["data"]["boards"]}
        assert seasons == {b: (1 if b == "best" else 0) for b in play.boards}
        play.assert_boards_equal_oracle(server.url)
        doc = graphql(server.url, '{ snapshot(board:"best", season:0, fromRank:1, toRank:100)'
                                  '{ season totalCount entries { rank player score achievedAt } } }')
        snap = doc["data"]["snapshot"]
        assert snap["season"] == 0 and snap["totalCount"] == len(play.archived["best"])
        assert [(e["rank"], e["player"], e["score"], e["achievedAt"]) for e in snap["entries"]] == [
            (e.rank, e.player, e.score, e.achieved_at_ms) for e in play.archived["best"]]
        for (board, player), entries in sorted(play.accepted.items())[:10]:
            assert _history_of(server.url, board, player) == _expected_history(entries)
        # writes go on after the recovery, on the rebuilt boards
        play.base = server.url
        play.post_batch()
        play.assert_boards_equal_oracle(server.url)
    finally:
        server.stop()


def test_crash_replay_is_idempotent(redis_server: RedisServer, tmp_path: Path) -> None:
    flushall(redis_server.url)
    settings = history_settings(redis_server.url, tmp_path)
    server = start(settings)
    try:
        play = Scenario(server.url, seed=23)
        play.create_boards()
        for _ in range(6):
            play.post_batch()
        # A game server that never saw its answers sends every batch again (new signatures, same
        # event ids): each entry is a duplicate, nothing is written twice.
        for body in play.sent:
            results = post_answered(server.url, body).json()["results"]
            assert {r["status"] for r in results} == {"rejected"}, results
        play.assert_boards_equal_oracle(server.url)
    finally:
        server.stop()

    # A history writer that died after its write landed but before it knew: the same rows again.
    path = tmp_path / "history.sqlite3"
    store = SqliteHistoryStore(path)

    async def replay_rows() -> int:
        await store.open()
        try:
            rows = [ScoreRow(history_key(board, 0), player, e["event_id"], e["score"], e["achieved_at"])
                    for (board, player), entries in play.accepted.items() for e in entries]
            await store.append_scores(rows)
            await store.append_scores(rows[::-1])
            return sum([len(await store.score_history(history_key(b, 0), p, 10_000)) for b, p in play.accepted])
        finally:
            await store.close()

    assert asyncio.run(replay_rows()) == sum(len({e["event_id"] for e in v}) for v in play.accepted.values())

    flushall(redis_server.url)
    server = start(settings)
    try:
        wait_live(server.url, sorted(play.boards))
        play.assert_boards_equal_oracle(server.url)          # increment and decrement boards included
        # After the recovery the same batches are still duplicates (recent event ids were restored).
        for body in play.sent:
            results = post_answered(server.url, body).json()["results"]
            assert not any(r["status"] == "applied" for r in results), results
        play.assert_boards_equal_oracle(server.url)
        for key, entries in sorted(play.accepted.items()):
            assert _history_of(server.url, *key) == _expected_history(entries), key
    finally:
        server.stop()

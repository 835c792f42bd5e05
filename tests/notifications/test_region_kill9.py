"""kill -9 of a region process between deriving notifications and writing them loses none and
duplicates none.

A real `podium serve --role region` process evaluates two rules whose notifications do not depend on
how the fan-out coalesces changes: `entered_top_n` with `n` above the board's size (each player once,
when they first score) and a score `threshold` (each player once, when their total reaches it; scores
only grow: the board counts increments). The test holds the SQLite inbox's write lock, so the
notifications derived from the next changes cannot be written (the region retries them: derived,
not written), then posts more scores and SIGKILLs the process at once (changes that no evaluation has
seen yet), releases the lock and starts the region again. The oracle is the final total of every
player: afterwards each expected notification is in the inbox exactly once, nothing else is, and the
outbox holds each once. Run with each inbox writer: the engine (the lock holds derived notifications
in the engine: the evaluation journal keeps them) and the drain (the engine's notifications reach the
outbox, and the lock holds them in the drain's consumer group: read, not acknowledged)."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import httpx
import orjson
import pytest
from podium.region.notifications.inbox_drain_redis import HELD as DRAIN_HELD
from podium.region.notifications.journal_redis import HELD_KEY, PENDING_KEY
from podium.region.notifications.outbox_redis import OUTBOX_KEY
from redis import Redis

from podium.redis_server import RedisServer, free_port
from tests.conftest import ADMIN_KEY
from tests.faults.region_process import spawn_region
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import entry, post_scores

BOARD = "arena"
PLAYERS = 40
ENTERED_N = 50              # above the board's size: every player enters once, when they first score
THRESHOLD = 400
WAIT_S = 60.0
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HELD = "notifications held until the store answers"      # the engine's log line: a write failed, retried


def _spawn(port: int, redis_url: str, data_dir: Path, writer: str = "drain") -> subprocess.Popen[bytes]:
    return spawn_region(port, redis_url, data_dir, BOARD,
                        {"PODIUM_NOTIFICATIONS__LIVE_POLL_MS": "100", "PODIUM_NOTIFICATIONS__INBOX_WRITER": writer})


def _inbox_rows(path: Path) -> list[tuple[str, str, str]]:
    """(player, rule, id) of every row of every inbox, read from the region's SQLite file."""
    with sqlite3.connect(path, timeout=30) as c:
        rows = c.execute("SELECT player, id, doc FROM inbox").fetchall()
    return [(player, orjson.loads(doc)["rule"], note_id) for player, note_id, doc in rows]


def _wait(check: Callable[[], object], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {WAIT_S} s: " + log.read_text()[-3000:])


@pytest.mark.parametrize("writer", ["engine", "drain"])
def test_kill9_between_derivation_and_write_loses_and_duplicates_no_notification(tmp_path: Path, writer: str) -> None:
    held = HELD if writer == "engine" else DRAIN_HELD
    rng = random.Random(18)
    totals: Counter[str] = Counter()
    data_dir = tmp_path / "region"
    data_dir.mkdir()
    log, inbox_path = data_dir / "podium.log", data_dir / "notifications.sqlite3"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def post_round(players: int) -> None:
        entries = []
        for _ in range(players):
            player, amount = f"p{rng.randrange(PLAYERS)}", rng.randrange(1, 120)
            totals[player] += amount
            entries.append(entry(BOARD, player, amount))
        r = post_scores(base, {"entries": entries})
        assert r.status_code == 200, r.text

    with RedisServer(tmp_path / "redis", appendonly=True) as redis_server:
        redis = Redis.from_url(redis_server.url)
        proc = _spawn(port, redis_server.url, data_dir, writer)
        try:
            for rule in ({"id": "entered", "board": BOARD, "kind": "entered_top_n", "n": ENTERED_N},
                         {"id": "rich", "board": BOARD, "kind": "threshold", "metric": "score", "value": THRESHOLD}):
                r = httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN, timeout=30)
                assert r.status_code == 201, r.text
            wait_rules_live(base, ADMIN, BOARD)
            post_round(15)                                      # written normally
            _wait(lambda: inbox_path.exists() and _inbox_rows(inbox_path), "the first notifications", log)
            assert held not in log.read_text()

            lock = sqlite3.connect(inbox_path, timeout=30, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")                     # the inbox cannot be written from now on
            try:
                before = len(_inbox_rows_locked(lock))
                post_round(30)
                _wait(lambda: held in log.read_text(), "notifications derived and held for the inbox", log)
                post_round(30)                                  # and changes no evaluation has seen yet
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                pending_at_kill = redis.hlen(PENDING_KEY)
                assert len(_inbox_rows_locked(lock)) == before  # nothing derived since the lock was written
            finally:
                lock.execute("ROLLBACK")
                lock.close()

            proc = _spawn(port, redis_server.url, data_dir, writer)
            expected = {(p, "entered") for p in totals} | {(p, "rich") for p, t in totals.items() if t >= THRESHOLD}
            _wait(lambda: {(p, rule) for p, rule, _ in _inbox_rows(inbox_path)} >= expected
                  and redis.hlen(PENDING_KEY) == 0, f"the {len(expected)} expected notifications", log)
            rows = _inbox_rows(inbox_path)
            per_event = Counter((p, rule) for p, rule, _ in rows)
            assert per_event == Counter(expected), f"not exactly once: {per_event - Counter(expected)}"
            entries = cast(list[tuple[bytes, dict[bytes, bytes]]], redis.xrange(OUTBOX_KEY))
            outbox = Counter(orjson.loads(fields[b"n"])["id"] for _, fields in entries)
            assert outbox == Counter(note_id for _, _, note_id in rows), "the outbox differs from the inboxes"
            print(f"\nkill -9 between derivation and write: {pending_at_kill} pending at the kill, "
                  f"{len(rows)} notifications after the restart, as the oracle")
        finally:
            proc.kill()
            proc.wait()
            redis.close()


def _inbox_rows_locked(c: sqlite3.Connection) -> list[tuple[str, str]]:
    return c.execute("SELECT player, id FROM inbox").fetchall()


def _overtaken_rows(path: Path) -> list[dict[str, object]]:
    with sqlite3.connect(path, timeout=30) as c:
        docs = [orjson.loads(doc) for (doc,) in c.execute("SELECT doc FROM inbox").fetchall()]
    return [d for d in docs if d["kind"] == "overtaken"]


def test_kill9_loses_no_held_overtaken_pass(tmp_path: Path) -> None:
    """`overtaken` passes held in a coalescing window are journaled with the step that held them: a
    process killed with -9 while they wait loses none. x passes a, b and c (their first pass: sent at
    once); y passes x (sent) and a, b, c again inside their window (held: one journaled entry each);
    kill -9; the restarted region sends the held passes when the window ends. Fails without the
    held journal (the second notifications of a, b and c are lost)."""
    data_dir = tmp_path / "region"
    data_dir.mkdir()
    log, inbox_path = data_dir / "podium.log", data_dir / "notifications.sqlite3"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    window_ms = 20_000

    def post(*scores: tuple[str, int]) -> None:
        r = post_scores(base, {"entries": [entry(BOARD, p, s) for p, s in scores]})
        assert r.status_code == 200, r.text

    with RedisServer(tmp_path / "redis", appendonly=True) as redis_server:
        redis = Redis.from_url(redis_server.url)
        proc = _spawn(port, redis_server.url, data_dir)
        try:
            rule = {"id": "passed", "board": BOARD, "kind": "overtaken", "n": 50, "near_ranks": 0,
                    "window_ms": window_ms}
            assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN, timeout=30).status_code == 201
            wait_rules_live(base, ADMIN, BOARD)
            post(("a", 10), ("b", 20), ("c", 30))
            _wait(lambda: _top_players(base) == ["c", "b", "a"], "the first entries", log)
            post(("x", 100))
            _wait(lambda: len(_overtaken_rows(inbox_path)) == 3 if inbox_path.exists() else False,
                  "x's passes notified", log)
            post(("y", 200))
            _wait(lambda: len(_overtaken_rows(inbox_path)) == 4 and redis.hlen(HELD_KEY) == 3,
                  "y's pass of x notified, its passes of a, b, c held", log)
            proc.send_signal(signal.SIGKILL)
            proc.wait()

            proc = _spawn(port, redis_server.url, data_dir)
            _wait(lambda: len(_overtaken_rows(inbox_path)) >= 7 and redis.hlen(HELD_KEY) == 0,
                  "the held passes sent after the restart", log)
            got = sorted((str(d["player"]), tuple(cast(list[str], d["by"])), d["count"]) for d in _overtaken_rows(inbox_path))
            assert got == sorted([("a", ("x",), 1), ("b", ("x",), 1), ("c", ("x",), 1), ("x", ("y",), 1),
                                  ("a", ("y",), 1), ("b", ("y",), 1), ("c", ("y",), 1)]), got
        finally:
            proc.kill()
            proc.wait()
            redis.close()


def _top_players(base: str) -> list[str]:
    doc = httpx.post(f"{base}/graphql", timeout=30, json={
        "query": "query($b:String!){ leaderboard(board:$b, first:10){ edges { node { player } } } }",
        "variables": {"b": BOARD}}).json()
    return [e["node"]["player"] for e in doc.get("data", {}).get("leaderboard", {}).get("edges", [])] if doc.get("data") else []

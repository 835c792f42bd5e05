"""The inbox drain in `podium history-writer`'s process (`notifications.inbox_writer=drain` with
`history.writer_placement=separate`, as `podium up` runs a region).

The region evaluates the rules and appends to the outbox only: with no writer process running its
notifications do not reach the inbox (they wait in the outbox's `inbox` group). A writer process
started then writes them. It is killed with -9 while it holds entries it read but could not write
(the SQLite inbox held locked by the test), the lock released and a writer started again: every
notification the oracle expects (each player once, `entered_top_n` above the board's size) is in
the inbox exactly once, and the group holds nothing pending."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
from podium.region.api.app import create_app
from podium.region.notifications.inbox_drain_redis import GROUP
from podium.region.notifications.outbox_redis import OUTBOX_KEY
from redis import Redis

from podium.devtools.stack_writer import WriterProcess, writer_env
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import create_board, entry, post_scores

from .test_notifications_http import ADMIN, wait_for

PLAYERS = 12
SETTLE_S = 1.5  # with no writer process: long enough for an in-process drain to have written


def _rows(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as c:
        try:
            return c.execute("SELECT player, id FROM inbox").fetchall()
        except sqlite3.OperationalError:  # the table is made by the first opening
            return []


def test_the_writer_process_writes_the_inboxes_and_a_kill9_loses_none(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", appendonly=True) as redis_server:
        settings = region_settings(
            redis_server.url,
            data_dir=tmp_path / "region",
            history={"writer_placement": "separate", "snapshot_interval_s": 0},
            notifications={"live_poll_ms": 100, "inbox_writer": "drain"},
        )
        inbox = settings.data_dir / "notifications.sqlite3"
        redis = Redis.from_url(redis_server.url)
        writer = WriterProcess(writer_env(settings), tmp_path / "writer" / "history-writer.log")
        try:
            with LiveServer(create_app, settings) as region:
                base = region.url
                board = create_board(base, public_read=True)
                rule = {"id": "in", "board": board, "kind": "entered_top_n", "n": 50}
                assert (
                    httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code
                    == 201
                )
                wait_rules_live(base, ADMIN, board)

                def post(first: int, last: int) -> None:
                    entries = [entry(board, f"p{i}", 10 + i) for i in range(first, last)]
                    assert post_scores(base, {"entries": entries}).status_code == 200

                post(0, PLAYERS // 2)
                wait_for(lambda: redis.xlen(OUTBOX_KEY) >= PLAYERS // 2)  # published by the region
                time.sleep(SETTLE_S)
                assert _rows(inbox) == []  # and not written by it

                writer.spawn()
                wait_for(lambda: len(_rows(inbox)) == PLAYERS // 2)  # the writer process drains them

                lock = sqlite3.connect(inbox, timeout=30, isolation_level=None)
                lock.execute("BEGIN EXCLUSIVE")  # the inbox cannot be written now
                try:
                    post(PLAYERS // 2, PLAYERS)
                    wait_for(lambda: redis.xpending(OUTBOX_KEY, GROUP)["pending"] > 0)  # read, not written
                    pid = writer.pid
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
                    assert writer.process is not None
                    writer.process.wait()
                finally:
                    lock.execute("ROLLBACK")
                    lock.close()

                writer.spawn()
                wait_for(
                    lambda: len(_rows(inbox)) >= PLAYERS and redis.xpending(OUTBOX_KEY, GROUP)["pending"] == 0
                )
                per_player = Counter(player for player, _ in _rows(inbox))
                assert per_player == Counter({f"p{i}": 1 for i in range(PLAYERS)}), per_player
        finally:
            writer.stop()
            redis.close()

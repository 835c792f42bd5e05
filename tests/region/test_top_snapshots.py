"""The in-memory top of hot boards (region/top_snapshots.py) on a real redis-server through the
region's own rank store and change-stream versions: a first read loads, an unchanged board is only
confirmed by a tick, another process's write is picked up by the next tick, this process's write
drops the snapshot at once (read-your-write), and the LRU keeps at most `boards_max` boards. The
rows always equal the oracle (scores sorted, highest first)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from podium.region.rank_store_redis import RedisRankStore
from podium.region.top_snapshots import TopSnapshot, TopSnapshots
from podium.region.wiring import build_region

from podium.clock import FakeClock
from podium.model import Board, ScoreEntry
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import unique

pytestmark = pytest.mark.anyio


def _entries(board: Board, scores: dict[str, int]) -> list[ScoreEntry]:
    return [ScoreEntry(board=board.id, player=p, score=s, achieved_at_ms=1_000, event_id=unique("e"))
            for p, s in scores.items()]


def _oracle(scores: dict[str, int], n: int) -> list[tuple[int, str, int]]:
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:n]
    return [(i + 1, p, s) for i, (p, s) in enumerate(ranked)]


def _rows(snapshot: TopSnapshot) -> list[tuple[int, str, int]]:
    return [(e.rank, e.player, e.score) for e in snapshot.rows]


async def test_top_snapshots_follow_the_board(redis_server: RedisServer, redis_single: aioredis.Redis) -> None:
    clock = FakeClock()
    settings = region_settings(redis_server.url, api={"top_snapshot_entries": 3, "top_snapshot_boards_max": 2,
                                                      "rate_limit_per_s": 1000.0, "rate_limit_burst": 1000})
    service = build_region(settings, clock, redis_single)
    tops: TopSnapshots | None = service.reads.top_snapshots
    assert tops is not None and tops.covers(3) and not tops.covers(4)
    boards = [Board(id=unique("top")) for _ in range(3)]
    for board in boards:
        await service.boards.create(board)
    board = boards[0]
    scores = {"ann": 50, "bob": 40, "cid": 30, "dan": 20}
    await service.store.apply(board, _entries(board, scores), clock.now_ms())

    first = await tops.top(board, 3)
    assert _rows(first) == _oracle(scores, 3) and first.total == 4 and tops.loads == 1
    clock.advance(1_000)
    await tops.refresh()                      # unchanged: confirmed, not re-read
    assert tops.loads == 1 and (await tops.top(board, 3)).as_of_ms == clock.now_ms()

    other_process = RedisRankStore(redis_single, settings.ingest)   # no on_write hook: only the tick sees it
    scores["eve"] = 45
    await other_process.apply(board, _entries(board, {"eve": 45}), clock.now_ms())
    assert _rows(await tops.top(board, 3)) == _oracle({k: v for k, v in scores.items() if k != "eve"}, 3)
    await tops.refresh()
    assert tops.loads == 2 and _rows(await tops.top(board, 3)) == _oracle(scores, 3)

    scores["fay"] = 99                        # a write through this process: read-your-write
    await service.store.apply(board, _entries(board, {"fay": 99}), clock.now_ms())
    again = await tops.top(board, 3)
    assert _rows(again) == _oracle(scores, 3) and again.total == 6 and tops.loads == 3

    for other in boards[1:]:                  # two more hot boards: the least recently read goes
        await tops.top(other, 3)
    assert (board.id, board.season) not in tops.snapshots and len(tops.snapshots) == 2

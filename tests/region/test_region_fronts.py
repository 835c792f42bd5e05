"""The region's fronts as `build_region` wires them, on a real redis-server: the read front
(`RegionReads`) and the live reads (`LiveReads`) answer what the rank store holds (checked against a
sorted oracle), serve-stale holds nothing before the in-memory top is loaded and the loaded top after;
the admin front's seasons (`Seasons`) start a new season, archive it with history on, and refuse
snapshots with history off."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from podium.region.reads import LiveReads, RegionReads
from podium.region.seasons import Seasons
from podium.region.wiring import build_region

from podium.clock import FakeClock
from podium.errors import Rebuilding, Unavailable
from podium.model import Board, ScoreEntry
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import unique

pytestmark = pytest.mark.anyio
SCORES = {"ann": 50, "bob": 40, "cid": 30, "dan": 20, "eve": 45}
ORACLE = sorted(SCORES, key=lambda p: -SCORES[p])


async def _board(reads: RegionReads, clock: FakeClock) -> Board:
    board = await reads.boards.create(Board(id=unique("fronts")))
    await reads.store.apply(board, [ScoreEntry(board.id, p, s, 1_000, unique("e")) for p, s in SCORES.items()],
                            clock.now_ms())
    return board


async def test_reads_answer_what_the_store_holds(redis_server: RedisServer, redis_single: aioredis.Redis) -> None:
    clock = FakeClock()
    service = build_region(region_settings(redis_server.url, history={"enabled": False}), clock, redis_single)
    reads, live = service.reads, service.live
    assert isinstance(reads, RegionReads) and isinstance(live, LiveReads)
    board = await _board(reads, clock)
    assert [e.player for e in await reads.cached_range(board, 1, 3)] == ORACLE[1:4]
    assert [e.player for e in await live.range(board.id, 0, 10)] == ORACLE
    rows, total = await live.top(board, 2)
    assert [e.player for e in rows] == ORACLE[:2] and total == len(SCORES)
    [entry] = await live.players(board.id, ["cid"])
    assert entry is not None and entry.rank == ORACLE.index("cid") + 1
    season, standings = await reads.standings(board.id)
    assert season == board.season and [e.player for e in standings] == ORACLE
    versions = await live.versions([board.id, "no-such-board"])
    assert list(versions) == [board.id] and versions[board.id].startswith(f"{board.season}:")
    assert board.id in await live.board_keys()

    assert reads.last_good_top(board.id, 3) is None        # nothing loaded yet: nothing to serve stale
    early = await reads.early_page(board, 1, 2)             # loads this process's in-memory top
    assert early is not None and [e.player for e in early[0]] == ORACLE[1:3] and early[1] == len(SCORES)
    held = reads.last_good_top(board.id, 3)
    assert held is not None and [e.player for e in held[1]] == ORACLE[:3] and held[2] == len(SCORES)

    with pytest.raises(Unavailable):                        # history off: no snapshots
        await service.admin.snapshot_now(board.id)
    assert (await service.admin.reset_board(board.id)).season == board.season + 1


async def test_seasons_archive_with_history_on(redis_server: RedisServer, redis_single: aioredis.Redis) -> None:
    clock = FakeClock()
    service = build_region(region_settings(redis_server.url), clock, redis_single)
    assert service.history is not None
    await service.history.open()
    try:
        board = await _board(service.reads, clock)
        seasons = Seasons(service.boards, service.history, service.reads.standings, clock,
                          service.settings.data_dir / "exports")
        snapshot = await seasons.snapshot_now(board.id)
        assert [e.player for e in snapshot.entries] == ORACLE and snapshot.season == board.season
        clock.advance(1_000)                                # snapshots are keyed by their time
        assert (await seasons.reset(board.id)).season == board.season + 1
        archived = await service.history.snapshots(board.id, 10)
        assert [s.season for s in archived] == [board.season, board.season]   # the manual one and the final one
        leases = service.rebuilder
        assert leases is not None
        token = await leases.leases.acquire(board.id)
        await service.boards.refresh()
        with pytest.raises(Rebuilding):                     # the admin front refuses a reset mid-rebuild
            await service.admin.reset_board(board.id)
        assert token is not None
        await leases.leases.release(board.id, token)
    finally:
        await service.history.close()

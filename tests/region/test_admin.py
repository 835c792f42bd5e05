"""Every admin write to a board's entries is refused while that board is rebuilt, and only then."""

from __future__ import annotations

from typing import Any

import pytest
from podium.region.admin import BoardAdmin
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rebuild_leases_redis import RebuildLeases

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.errors import BadUserInput, Rebuilding
from podium.model import Board, Operator, ScoreEntry, SortOrder

pytestmark = pytest.mark.anyio


async def make_admin(redis: Any) -> tuple[BoardAdmin, RedisRankStore, FakeClock]:
    clock = FakeClock(1_700_000_000_000)
    boards, store = BoardRegistry(redis, clock, refresh_ms=0), RedisRankStore(redis)
    resets: list[str] = []

    async def reset(board_id: str) -> Board:
        resets.append(board_id)
        return await boards.next_season(board_id)

    return BoardAdmin(boards, store, reset), store, clock


WRITES = {
    "reset_board": lambda a: a.reset_board("arena"),
    "delete_board": lambda a: a.delete_board("arena"),
    "delete_player": lambda a: a.delete_player("arena", "ann"),
    "ban_player": lambda a: a.ban_player("arena", "ann"),
    "unban_player": lambda a: a.unban_player("arena", "bob"),
    "edit_score": lambda a: a.edit_score("arena", "ann", 7, "support ticket", 1_700_000_000_000),
    "approve_quarantined": lambda a: _approve_held(a),
}


async def _approve_held(admin: BoardAdmin) -> None:
    """Quarantines one entry (as the stream worker's anti-cheat would) and approves it."""
    board = await admin.boards.require("arena")
    await admin.store.quarantine(board, {"player": "cid", "score": "5", "ts": format(1_699_999_999_000, "x"),
                                         "event": "held-1", "reason": "max_delta"}, 100)
    [held] = await admin.store.quarantined(board, 1)
    status, _rank = await admin.approve_quarantined("arena", held.id, 1_700_000_000_000)
    assert status == "applied"
    assert held.id not in [q.id for q in await admin.store.quarantined(board, 10)]


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_admin_writes_wait_for_a_rebuild(redis_single: Any, write: str) -> None:
    admin, store, clock = await make_admin(redis_single)
    board = await admin.create_board(Board("arena"))
    await store.apply(board, [ScoreEntry("arena", "ann", 10, clock.now_ms(), "e1")], clock.now_ms())
    leases = RebuildLeases(redis_single, clock, lease_ms=60_000)
    token = await leases.acquire("arena")
    assert token is not None
    await admin.boards.refresh()
    with pytest.raises(Rebuilding):
        await WRITES[write](admin)
    assert (await store.players(board, ["ann"]))[0] is not None   # nothing was written
    await leases.release("arena", token)
    await admin.boards.refresh()
    await WRITES[write](admin)                                      # allowed once the rebuild is over


async def test_operator_and_order_never_change_on_a_live_board(redis_single: Any) -> None:
    admin, _store, _clock = await make_admin(redis_single)
    await admin.create_board(Board("arena", Operator.BEST, SortOrder.DESC))
    with pytest.raises(BadUserInput):
        await admin.update_board(Board("arena", Operator.LATEST, SortOrder.DESC))
    updated = await admin.update_board(Board("arena", Operator.BEST, SortOrder.DESC, score_max=99))
    assert updated.score_max == 99 and updated.season == 0

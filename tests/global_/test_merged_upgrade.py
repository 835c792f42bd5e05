"""A merged board written by an older version (members "<12 hex digits>:<player>") is rebuilt from
the state hash at start-up: every rank then equals a board merged from scratch, on a single node and
on a cluster, and a board already marked current is left alone."""

from __future__ import annotations

import random

import pytest
from podium.global_.merge_reference import _prefix
from podium.global_.merged_store import GlobalStore
from podium.replication.changes import Change

from podium.model import Board, Operator
from podium.ranking import to_zscore


def history(seed: int, players: int = 300) -> list[Change]:
    rng = random.Random(seed)
    out = []
    for seq in range(1, players * 3 + 1):
        out.append(Change(rng.choice(["ap", "eu", "us"]), "lvl", 0, f"p{rng.randrange(players)}",
                          rng.randrange(-50, 50), rng.randrange(1, 10**12), seq))
    return out


async def legacy_copy(store: GlobalStore, board: Board) -> None:
    """Rewrites the board's sorted set the way versions before the compact encoding stored it."""
    p = _prefix(board.id, board.season)
    rows = await store.top(board, 0, 10_000)
    await store.redis.unlink(p + "z", p + "enc")
    await store.redis.zadd(p + "z", {f"{r.achieved_at_ms:012x}:{r.player}": to_zscore(r.score, board.order)
                                     for r in rows})


@pytest.mark.anyio
@pytest.mark.parametrize("operator", [Operator.BEST, Operator.LATEST, Operator.INCREMENT])
async def test_a_legacy_merged_board_is_rebuilt_exactly(any_redis, operator: Operator) -> None:  # type: ignore[no-untyped-def]
    store = GlobalStore(any_redis)
    board, fresh = Board("lvl", operator=operator), Board("lvl-fresh", operator=operator)
    changes = history(seed=len(operator.value))
    await store.apply(board, changes)
    await store.apply(fresh, [Change(c.region, fresh.id, 0, c.player, c.score, c.achieved_at_ms, c.seq)
                              for c in changes])
    expected = [(r.rank, r.player, r.score, r.achieved_at_ms) for r in await store.top(fresh, 0, 10_000)]
    await legacy_copy(store, board)
    garbled = [(r.rank, r.player, r.score, r.achieved_at_ms) for r in await store.top(board, 0, 10_000)]
    assert garbled != expected          # the old members do not decode as the current encoding

    assert await store.upgrade(board) == len(expected)
    assert [(r.rank, r.player, r.score, r.achieved_at_ms) for r in await store.top(board, 0, 10_000)] == expected
    assert await store.upgrade(board) is None   # marked: a restart rebuilds nothing
    player = expected[len(expected) // 2][1]
    merged, rank = await store.entry(board, player)
    assert merged is not None and rank == len(expected) // 2 + 1
    # merges after the upgrade move each player's single member (no stale legacy member is left)
    later = [Change("us", "", 0, player, 10**6, 10**12 + 1, 10**6), Change("eu", "", 0, "new", 7, 10**12 + 2, 10**6)]
    for b in (board, fresh):
        await store.apply(b, [Change(c.region, b.id, 0, c.player, c.score, c.achieved_at_ms, c.seq) for c in later])
    expected = [(r.rank, r.player, r.score, r.achieved_at_ms) for r in await store.top(fresh, 0, 10_000)]
    assert [(r.rank, r.player, r.score, r.achieved_at_ms) for r in await store.top(board, 0, 10_000)] == expected
    assert await store.count(board) == len(expected)


@pytest.mark.anyio
async def test_an_empty_board_is_only_marked(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis), Board("none")
    assert await store.upgrade(board) == 0
    assert await store.upgrade(board) is None
    assert await store.count(board) == 0

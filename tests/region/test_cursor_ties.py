"""Cursor paging under mass ties, on a single Redis and on a 3-node cluster: with more than 20,000
entries on one score (many on one achievement time too), a cursor walk with page sizes 1, 7 and
1000 returns every entry exactly once (size 1 over the 3,000 entries around the
10,000th tie), in the order of an independent oracle; resuming from random
cursors (of entries on the board, and of positions no entry holds) gives the oracle's next page."""

from __future__ import annotations

import bisect
import random
from typing import Any

import pytest
from podium.region.rank_store_redis import RedisRankStore

from podium.model import Board, RankCursor, RankedEntry, SortOrder

TIED_SCORE = 100
TIED = 20_500


def population(rng: random.Random) -> list[tuple[str, int, int]]:
    """(player, score, achieved_at): one huge tie run (half of it also tied on time), others around it."""
    rows = [(f"t{i:05d}{rng.choice('aBz-')}", TIED_SCORE, 1_000 if i % 2 else 1_000 + rng.randrange(50))
            for i in range(TIED)]
    rows += [(f"o{i}", rng.choice([50, 99, 101, 300]), rng.randrange(2_000)) for i in range(400)]
    return rows


def oracle_key(score: int, ts: int, player: str, order: SortOrder) -> tuple[int, int, bytes]:
    """The documented tie rule, written independently: better score, then earlier, then player bytes."""
    return (-score if order is SortOrder.DESC else score, ts, player.encode())


def oracle(rows: list[tuple[str, int, int]], order: SortOrder) -> list[RankedEntry]:
    ranked = sorted(rows, key=lambda r: oracle_key(r[1], r[2], r[0], order))
    return [RankedEntry(i + 1, p, s, ts) for i, (p, s, ts) in enumerate(ranked)]


async def walk(store: RedisRankStore, board: Board, first_page: list[RankedEntry], size: int,
               pages_max: int = 10**9) -> list[RankedEntry]:
    got = list(first_page)
    for _ in range(pages_max):
        last = got[-1]
        page = await store.after(board, RankCursor(last.score, last.achieved_at_ms, last.player), size)
        if not page:
            return got
        assert len(page) <= size
        got.extend(page)
    return got


@pytest.mark.anyio
@pytest.mark.parametrize("order", list(SortOrder))
async def test_cursor_walks_return_every_tied_entry_once(any_redis: Any, order: SortOrder) -> None:
    rng = random.Random(f"ties-{order.value}")
    board = Board(id=f"ties-{order.value}", order=order)
    rows = population(rng)
    store = RedisRankStore(any_redis)
    await store.load(board, rows)
    want = oracle(rows, order)
    for size in (1000, 7):
        got = await walk(store, board, await store.range(board, 0, size), size)
        assert len(got) == len(want) and got == want, f"page size {size}"
    # page size 1 over the stretch where a 10,000-entry scan window used to end (a full walk is 21k calls)
    tie_start = next(r.rank for r in want if r.score == TIED_SCORE)
    start = tie_start + 8_500
    got = await walk(store, board, await store.range(board, start, 1), 1, pages_max=3_000)
    assert got == want[start : start + 3_001]

    keys = [oracle_key(r.score, r.achieved_at_ms, r.player, order) for r in want]
    for _ in range(100):
        i = rng.randrange(len(want))
        row = want[i]
        assert await store.after(board, RankCursor(row.score, row.achieved_at_ms, row.player), 7) == want[i + 1 : i + 8]
        # a position no entry holds (its player left or moved): the page starts at the next key
        ghost = RankCursor(row.score, row.achieved_at_ms, row.player + rng.choice(["", "0", "~"]) + "#")
        nxt = bisect.bisect_right(keys, oracle_key(ghost.score, ghost.achieved_at_ms, ghost.player, order))
        assert await store.after(board, ghost, 7) == want[nxt : nxt + 7]

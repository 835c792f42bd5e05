"""A contest's live ticks on a real board: when one event moves many watched entries, every
entry's `overtakenBy` (read for the whole tick in one batch) equals the brute-force answer, and
equals what the hub computes with one read per entry."""

from __future__ import annotations

import random
from typing import Any

import pytest
from podium.region.contests.store_redis import RedisContestStore, contest_key

from podium.clock import FakeClock
from podium.config import ApiLimits
from podium.fanout import OVERTAKEN_MAX, FanOut

pytestmark = pytest.mark.anyio
ENTRIES = 60


def ranking(scores: dict[str, int]) -> list[str]:
    """The board's order: most points first (stored as −points), equal points by entry key."""
    return sorted(scores, key=lambda e: (-scores[e], e))


@pytest.mark.parametrize("batched", [True, False])
async def test_overtaken_by_matches_the_oracle_when_many_watched_entries_move(redis_single: Any, batched: bool) -> None:
    store = RedisContestStore(redis_single)
    board = f"hub{int(batched)}"
    rnd = random.Random(11)
    scores = {f"e{i:02d}": rnd.randrange(0, 50) for i in range(ENTRIES)}
    await redis_single.zadd(contest_key(board, "board"), {e: -s for e, s in scores.items()})
    hub = FanOut(store.ranked, store.ranked_entries, store.versions, ApiLimits(), FakeClock(),
                 read_ranges=store.ranked_ranges if batched else None)
    watched = sorted(scores)[::2]
    streams = [hub.subscribe_rank(board, e) for e in watched]
    for stream in streams:
        await anext(stream)
    before = ranking(scores)
    for entry in rnd.sample(sorted(scores), ENTRIES // 2):       # one "event": half the board gains points
        gain = rnd.randrange(1, 40)
        scores[entry] += gain
        await redis_single.zincrby(contest_key(board, "board"), -gain, entry)
    await redis_single.incr(contest_key(board, "ver"))
    await hub.tick()
    after = ranking(scores)
    fell = 0
    for entry, stream in zip(watched, streams, strict=True):
        old, new = before.index(entry) + 1, after.index(entry) + 1
        if old == new:
            continue
        update = await anext(stream)
        assert (update.previous_rank, update.rank) == (old, new)
        expected = [e for e in after[old - 1:old - 1 + min(new - old, OVERTAKEN_MAX)] if e != entry] if new > old else []
        assert update.overtaken_by == expected, entry
        fell += new > old
    assert fell >= 5
    for stream in streams:
        await stream.aclose()

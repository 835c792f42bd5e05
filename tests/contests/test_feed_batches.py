"""Feed events applied in batches (region/contests/feed_batch_redis.py) on a real redis-server
against a brute-force oracle: random teams indexed in small pages, random batches of events (the
same id again in one batch and in later ones, negative deltas), some batches stopped part-way as by
a crash and finished by a later batch that regroups their events, some events applied one by one.
Every entry's points equal the oracle's, every event is marked done once and no batch is left."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from podium.region.contests.feed_batch_redis import RedisFeedBatches
from podium.region.contests.store_redis import RedisContestStore, contest_key

pytestmark = pytest.mark.anyio
PLAYERS = [f"p{i}" for i in range(8)]


async def _crash_part_way(batches: RedisFeedBatches, events: list[tuple[str, str, int]], pages: int) -> None:
    """Claims `events` as one batch and applies only `pages` of its pages (a worker killed mid-way)."""
    args: list[Any] = [contest_key("c", "ev:"), "crashed"]
    for event in events:
        args += list(event)
    await batches._claim(keys=[contest_key("c", "bt:crashed"), contest_key("c", "players")], args=args)
    keys = [contest_key("c", "bt:crashed"), contest_key("c", "board"), contest_key("c", "ver")]
    prefixes = [contest_key("c", "pg:"), contest_key("c", "idx:"), contest_key("c", "ev:")]
    for _ in range(pages):
        await batches._page(keys=keys, args=prefixes)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_batches_equal_the_oracle(redis_single: Any, seed: int) -> None:
    rnd = random.Random(seed)
    teams: dict[str, dict[str, int]] = {}
    for n in range(rnd.randrange(40, 120)):
        picked = rnd.sample(PLAYERS, 4)
        teams[f"u{n}/t"] = {p: rnd.choice([100, 150, 200]) for p in picked}
    await redis_single.hset(contest_key("c", "entries"), mapping={
        e: "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mults.items())) for e, mults in teams.items()})
    store = RedisContestStore(redis_single, fanout_chunk_entries=rnd.choice([1, 5, 1000]),
                              index_scan_entries=rnd.choice([3, 7, 50]))
    await store.build_index("c")
    batches = RedisFeedBatches(store)
    events = {f"e{i}": (rnd.choice(PLAYERS), rnd.choice([-300, 100, 250, 600])) for i in range(30)}
    applied: set[str] = set()
    crashed = False
    for _ in range(12):
        ids = rnd.choices(sorted(events), k=rnd.randrange(1, 6))
        batch = [(i, *events[i]) for i in ids]
        if not crashed and rnd.random() < 0.4 and not applied.intersection(ids):
            await _crash_part_way(batches, batch, rnd.randrange(0, 4))
            crashed = True
        elif rnd.random() < 0.2:
            for event in batch:
                await store.fan_out("c", *event) if event[0] not in applied and not crashed else None
        else:
            counts = await batches.fan_out("c", batch)
            assert all(n >= 0 for n in counts)
            crashed = False       # the crashed batch's events were all taken up again
        applied.update(ids)
    await batches.fan_out("c", [(i, *events[i]) for i in sorted(applied)])     # finishes any batch left
    points: dict[str, int] = defaultdict(int)
    for event_id in applied:
        player, delta = events[event_id]
        for entry, mults in teams.items():
            if player in mults:
                points[entry] -= delta * mults[player]
    board = {m.decode(): int(s) for m, s in await redis_single.zrange(contest_key("c", "board"), 0, -1, withscores=True)}
    assert board == {e: points[e] for e in teams}
    for event_id in applied:
        assert await redis_single.get(contest_key("c", f"ev:{event_id}")) == b"done"
    assert not await redis_single.keys(contest_key("c", "bt:*"))


async def test_a_contest_indexed_before_page_marks_is_applied_one_event_at_a_time(redis_single: Any) -> None:
    await redis_single.hset(contest_key("c", "entries"), mapping={"a/t": "1\tp0=200,p1=100", "b/t": "1\tp1=150"})
    store = RedisContestStore(redis_single)
    await store.build_index("c")
    await redis_single.delete(contest_key("c", "players"))         # as indexed by the previous code
    counts = await RedisFeedBatches(store).fan_out("c", [("x", "p1", 100), ("y", "p0", 10), ("x", "p1", 100)])
    assert counts == [2, 1, 0]
    board = dict(await redis_single.zrange(contest_key("c", "board"), 0, -1, withscores=True))
    assert board == {b"a/t": -12_000.0, b"b/t": -15_000.0}

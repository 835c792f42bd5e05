"""The global merged store on real Redis (single node and cluster): merges per operator, keeps
every region's contribution, ranks the merged values exactly (every entry, not a trimmed top), and
logs `latest` conflicts. A hypothesis oracle replays random multi-region histories."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.global_.merged_store import GlobalStore
from podium.replication.changes import Change

from podium.model import Board, Operator, SortOrder
from podium.redis_server import RedisServer


def ch(region: str, board: str, player: str, score: int, ts: int, seq: int) -> Change:
    return Change(region, board, 0, player, score, ts, seq)


@pytest.mark.anyio
async def test_counter_board_sums_regions_and_replays_change_nothing(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis), Board("kills", operator=Operator.INCREMENT)
    batch = [ch("us", "kills", "ann", 5, 10, 1), ch("eu", "kills", "ann", 7, 20, 1), ch("us", "kills", "bob", 9, 5, 2)]
    await store.apply(board, batch)
    await store.apply(board, list(reversed(batch)))          # a replay, in another order
    await store.apply(board, [ch("us", "kills", "ann", 3, 9, 0)])  # a stale, older regional state
    rows = await store.top(board, 0, 10)
    assert [(r.rank, r.player, r.score) for r in rows] == [(1, "ann", 12), (2, "bob", 9)]
    merged, rank = await store.entry(board, "ann")
    assert merged is not None and rank == 1
    assert merged.contributions == {"us": 5, "eu": 7} and merged.versions == {"us": 1, "eu": 1}


@pytest.mark.anyio
async def test_latest_conflicts_are_resolved_by_rule_and_logged(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis), Board("lvl", operator=Operator.LATEST)
    await store.apply(board, [ch("us", "lvl", "ann", 30, 1000, 1)])
    await store.apply(board, [ch("eu", "lvl", "ann", 10, 2000, 1)])   # concurrent, newer: wins
    await store.apply(board, [ch("ap", "lvl", "ann", 99, 1500, 1)])   # concurrent, older: loses
    merged, _ = await store.entry(board, "ann")
    assert merged is not None and (merged.score, merged.achieved_at_ms) == (10, 2000)
    log = await store.conflicts(board, 10)
    assert {(c["winner"], c["loser"]) for c in log} == {("eu", "us"), ("eu", "ap"), ("ap", "us")}
    assert (await store.conflict_counts())["lvl"] == 3


@pytest.mark.anyio
async def test_players_that_fall_bring_the_ones_below_back(any_redis) -> None:  # type: ignore[no-untyped-def]
    """Issue 21's reproduction: q1..q2500 on a `latest` board, then q1001..q2500 rewritten to 0
    later: rank 501 must be q0500 (a kept top-2K lost it for good)."""
    store, board = GlobalStore(any_redis), Board("lvl", operator=Operator.LATEST)
    await store.apply(board, [ch("us", "lvl", f"q{i:04d}", i, 1000, i) for i in range(1, 2501)])
    await store.apply(board, [ch("us", "lvl", f"q{i:04d}", 0, 2000, 10_000 + i) for i in range(1001, 2501)])
    assert [(r.rank, r.player, r.score) for r in await store.top(board, 500, 1)] == [(501, "q0500", 500)]
    merged, rank = await store.entry(board, "q0500")
    assert merged is not None and rank == 501
    assert await store.count(board) == 2500
    assert await store.rank_of(board, "new", 10_000, 1) == 1
    assert await store.rank_of(board, "new", -1, 1) == 2501


REGIONS = ["ap", "eu", "us"]
EXAMPLES = itertools.count()
REMOVE = 40   # a generated score of 40 stands for removing the player in that region
OPERATORS = [Operator.BEST, Operator.LATEST, Operator.INCREMENT, Operator.DECREMENT]


def step(op: Operator, cur: tuple[int, int] | None, score: int, ts: int) -> tuple[int, int]:
    """A region's value of a player after one more write, written out from the operator's rule."""
    if op is Operator.BEST:
        return (score, ts) if cur is None or score > cur[0] or (score == cur[0] and ts < cur[1]) else cur
    if op is Operator.LATEST:
        return (score, ts) if cur is None or ts > cur[1] or (ts == cur[1] and score > cur[0]) else cur
    amount = score if op is Operator.INCREMENT else -score
    return (amount, ts) if cur is None else (cur[0] + amount, max(cur[1], ts))


def oracle(op: Operator, final: dict[tuple[str, str], tuple[int, int]]) -> list[tuple[str, int, int]]:
    per_player: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for (region, player), (score, ts) in final.items():
        per_player[player].append((region, score, ts))
    rows = []
    for player, values in per_player.items():
        if op is Operator.BEST:
            score, ts = min(((s, t) for _, s, t in values), key=lambda v: (-v[0], v[1]))
        elif op is Operator.LATEST:
            score, ts = max(((s, t) for _, s, t in values), key=lambda v: (v[1], v[0]))
        else:
            score, ts = sum(s for _, s, _ in values), max(t for _, _, t in values)
        rows.append((player, score, ts))
    return sorted(rows, key=lambda r: (-r[1], r[2], r[0].encode()))


history = st.lists(st.tuples(st.sampled_from(REGIONS), st.integers(0, 30), st.integers(-5, 40), st.integers(0, 20)),
                   min_size=1, max_size=120)


@pytest.fixture(scope="module")
def store_in_portal(portal: BlockingPortal, redis_server: RedisServer) -> Iterator[GlobalStore]:
    async def make() -> GlobalStore:
        return GlobalStore(aioredis.Redis.from_url(redis_server.url))
    store = portal.call(make)
    yield store
    portal.call(store.redis.aclose)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(OPERATORS), writes=history, seed=st.integers(0, 2**32))
def test_every_rank_equals_the_oracle_after_any_delivery_order(
        portal: BlockingPortal, store_in_portal: GlobalStore, op: Operator, writes: list[tuple[str, int, int, int]],
        seed: int) -> None:
    """Players in 1, 2 or 3 regions, heavy ties (small score and time ranges), moves down as well as
    up (latest rewrites, decrements, negative increments, removals); the changes shipped in batches that are
    duplicated and reordered across regions. Every rank, not only the top, equals the oracle."""
    rng = random.Random(seed)
    board = Board(f"h{next(EXAMPLES)}", operator=op, order=SortOrder.DESC)   # a fresh board per example
    states: dict[tuple[str, str], tuple[int, int]] = {}
    shipped, seq = [], dict.fromkeys(REGIONS, 0)
    for region, p, score, ts in writes:   # each region's change stream: its new state of the player
        player = f"p{p:02d}"
        before = states.get((region, player))
        if score == REMOVE:               # a delete or ban in that region: a tombstone is shipped
            if before is not None:
                del states[(region, player)]
                seq[region] += 1
                shipped.append(Change(region, board.id, 0, player, 0, before[1], seq[region], removed=True))
            continue
        states[(region, player)] = step(op, before, score, ts)
        if states[(region, player)] != before:
            seq[region] += 1
            shipped.append(Change(region, board.id, 0, player, *states[(region, player)], seq[region]))
    batches, start = [], 0
    while start < len(shipped):
        size = rng.randint(1, 9)
        batches.append(shipped[start:start + size])
        start += size
    batches += rng.sample(batches, k=min(3, len(batches)))   # redelivered
    rng.shuffle(batches)

    async def run() -> tuple[list[tuple[str, int, int]], dict[str, int | None]]:
        for batch in batches:
            await store_in_portal.apply(board, batch)
        rows = await store_in_portal.top(board, 0, 1000)
        ranks = {r.player: (await store_in_portal.entry(board, r.player))[1] for r in rows}
        return [(r.player, r.score, r.achieved_at_ms) for r in rows], ranks

    got, ranks = portal.call(run)
    want = oracle(op, states)
    assert got == want
    assert portal.call(store_in_portal.count, board) == len(want)
    assert ranks == {p: i + 1 for i, (p, _, _) in enumerate(want)}

"""A trending batch whose counts did not land leaves no event id behind: its retry counts it, once.

Before, the ids were marked in one Redis call and the counts written in the next, so a batch answered
503 between the two (a time-out, or the process dying) came back as `duplicate` on retry and its
counts were lost. The store under test is the real one on a real Redis; the failure is injected
around its one commit call, before it (the call never ran) and after it (the call ran, the answer was
lost). Concurrent batches sharing ids count each id once. Checked against the brute-force oracle."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.trending import ingest_plan as plan
from podium.region.trending.events import TrendEvent
from podium.region.trending.store_redis import RedisTrendingStore, TrendingStoreError
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import Bucket, Resolution

from podium.config import TrendingSettings
from podium.errors import Unavailable
from podium.redis_client import connect

LIMITS = TrendingSettings(lua_events_max=50, lua_increments_max=200)
HYP = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class FailingCommit(RedisTrendingStore):
    """Fails the next `fail` commit calls: "before" never sends them, "after" sends them and then
    loses the answer (what a client time-out looks like)."""

    def __init__(self, redis: Any, limits: TrendingSettings, when: str, fail: int) -> None:
        super().__init__(redis, limits)
        self.when, self.fail = when, fail

    async def _commit_cells(self, spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]],
                            ids: list[str], now_ms: int, offers: Sequence[plan.DimOffer] = ()) -> bool:
        if self.fail and self.when == "before":
            self.fail -= 1
            raise TrendingStoreError()
        done = await super()._commit_cells(spec, p, cells, ids, now_ms, offers)
        if self.fail and self.when == "after":
            self.fail -= 1
            raise TrendingStoreError()
        return done

    async def _write_cells(self, spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]]) -> None:
        # the counts' call of a batch too large for one call (and of the store before the fix)
        if self.fail and self.when == "before":
            self.fail -= 1
            raise TrendingStoreError()
        await super()._write_cells(spec, p, cells)
        if self.fail and self.when == "after":
            self.fail -= 1
            raise TrendingStoreError()


def _events(spec: StreamSpec, at: int, pairs: list[tuple[int, int]]) -> list[TrendEvent]:
    return [TrendEvent(spec.id, f"item-{item}", at, weight, f"e{n}") for n, (item, weight) in enumerate(pairs)]


async def _counts(store: RedisTrendingStore, spec: StreamSpec, minute: int) -> tuple[dict[str, int], int]:
    rows, _other, total = await store.read_exact(spec, [Bucket(minute, Resolution.MINUTE)], "", 1000)
    return dict(rows), total


def _oracle(events: list[TrendEvent]) -> tuple[dict[str, int], int]:
    first: dict[str, TrendEvent] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    counts: Counter[str] = Counter()
    for e in first.values():
        counts[e.item] += e.weight
    return dict(counts), sum(counts.values())


async def _retry_after_failure(url: str, when: str, fails: int, pairs: list[tuple[int, int]]) -> None:
    redis = connect(url)
    try:
        store = FailingCommit(redis, LIMITS, when, fails)
        spec = StreamSpec(f"x{uuid.uuid4().hex[:12]}")
        now = store.clock.now_ms()
        minute = now - now % 60_000
        events = _events(spec, minute + 1, pairs)
        answers: list[list[bool]] = []
        refused = 0
        while not answers:                  # the game server retries until it gets an answer
            try:
                answers.append(await store.apply(spec, events))
            except Unavailable:
                refused += 1
        # every commit call fails while `fails` lasts: "after", a retry's unchecked commit call finds
        # the ids counted and writes nothing (then the batch is deduped), but its answer is lost too
        assert refused == fails
        expected_fresh = [e.event_id not in {x.event_id for x in events[:i]} for i, e in enumerate(events)]
        if when == "before":                # nothing landed: the retry counts the whole batch
            assert answers[0] == expected_fresh
        else:                               # it landed: the retry is told so
            assert answers[0] == [False] * len(events)
        assert await _counts(store, spec, minute) == _oracle(events)
        assert await store.apply(spec, events) == [False] * len(events)       # and never twice
        assert await _counts(store, spec, minute) == _oracle(events)
    finally:
        await redis.aclose()


@pytest.mark.parametrize("when", ["before", "after"])
@HYP
@given(fails=st.integers(1, 3), pairs=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 9)), min_size=1, max_size=50))
def test_a_batch_whose_counts_did_not_land_is_counted_by_its_retry(redis_server, portal, when, fails,  # type: ignore[no-untyped-def]
                                                                   pairs) -> None:
    portal.call(_retry_after_failure, redis_server.url, when, fails, pairs)


async def _concurrent(url: str, batches: list[list[int]]) -> None:
    redis = connect(url)
    try:
        store = RedisTrendingStore(redis, LIMITS)
        spec = StreamSpec(f"c{uuid.uuid4().hex[:12]}")
        now = store.clock.now_ms()
        minute = now - now % 60_000
        sent = [[TrendEvent(spec.id, f"item-{i % 7}", minute + 1, 1 + i % 3, f"e{i}") for i in ids] for ids in batches]
        answers = await asyncio.gather(*(store.apply(spec, b) for b in sent))
        fresh = Counter(e.event_id for b, a in zip(sent, answers, strict=True) for e, ok in zip(b, a, strict=True) if ok)
        assert set(fresh) == {e.event_id for b in sent for e in b} and set(fresh.values()) == {1}
        assert await _counts(store, spec, minute) == _oracle([e for b in sent for e in b])
    finally:
        await redis.aclose()


@HYP
@given(batches=st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=40), min_size=2, max_size=6))
def test_concurrent_batches_sharing_ids_count_each_id_once(redis_server, portal, batches) -> None:  # type: ignore[no-untyped-def]
    portal.call(_concurrent, redis_server.url, batches)

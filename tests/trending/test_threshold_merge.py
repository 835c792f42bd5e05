"""The threshold merge (region/trending/threshold_merge.py) against the brute-force oracle: random
buckets with items present in only some of them, equal counts everywhere (counts drawn from a few
values) and at the K boundary, any K, page size and budget. Driven from plain dicts (pages list
equal counts in reverse item order, as Redis's ZREVRANGE does: the smaller names come last) and on
a real Redis, single node and cluster, through the store's `read_exact` (the union fallback included)."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from podium.region.trending import threshold_merge
from podium.region.trending.store_redis import RedisTrendingStore
from podium.region.trending.streams import StreamSpec
from podium.region.trending.threshold_merge_redis import SUMS, RedisBucketPages
from podium.replication.trending_buckets import Bucket, Resolution

from podium.config import TrendingSettings
from podium.redis_client import connect

ITEMS = st.sampled_from(["a", "b", "c", "d", "e", "f", "é", "ß", "z", "zz", "日本", "🎮"])
BUCKETS = st.lists(st.dictionaries(ITEMS, st.integers(1, 4), max_size=10), max_size=6)
HYP = settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_ids = itertools.count()


def oracle(buckets: Sequence[dict[str, int]], k: int) -> list[tuple[bytes, int]]:
    """Brute force: every bucket summed, count descending then item ascending, first K."""
    total: Counter[str] = Counter()
    for b in buckets:
        total.update(b)
    return sorted(((i.encode(), c) for i, c in total.items()), key=lambda r: (-r[1], r[0]))[:k]


class DictPages:
    def __init__(self, buckets: Sequence[dict[str, int]]) -> None:
        # equal counts in reverse item order, like ZREVRANGE: a merge stopping on a tie would miss
        # the smaller name that comes later
        self.rows = [sorted(((i.encode(), c) for i, c in b.items()), key=lambda r: (r[1], r[0]), reverse=True)
                     for b in buckets]
        self.summed: list[bytes] = []

    async def pages(self, reads: Sequence[tuple[int, int, int]]) -> list[list[tuple[bytes, int]]]:
        return [self.rows[b][o : o + n] for b, o, n in reads]

    async def sums(self, items: Sequence[bytes], buckets: Sequence[int]) -> list[int]:
        self.summed += items
        return [sum(dict(self.rows[b]).get(i, 0) for b in buckets) for i in items]


@HYP
@example(buckets=[{"b": 1, "a": 1}], k=1, page=1, budget=100)     # a tie at the K boundary, the smaller name unread
@example(buckets=[{"b": 2, "a": 1}, {"c": 2, "a": 2}], k=1, page=1, budget=100)
@given(buckets=BUCKETS, k=st.integers(1, 8), page=st.integers(1, 4), budget=st.integers(0, 30))
def test_threshold_merge_equals_the_oracle_or_says_it_ran_out(portal: Any, buckets: list[dict[str, int]], k: int,
                                                              page: int, budget: int) -> None:
    reader = DictPages(buckets)
    ranked, stats = portal.call(threshold_merge.top_k, reader, len(buckets), k, page, budget)
    assert stats.pages <= budget
    assert len(reader.summed) == len(set(reader.summed)) == stats.resolved   # each item summed once at most
    if ranked is None:
        # only when the budget could not even read every bucket to its end
        assert budget < sum(len(b) // page + 1 for b in buckets)
    else:
        assert ranked == oracle(buckets, k)
    if budget >= sum(len(b) // page + 1 for b in buckets):
        assert ranked is not None            # a budget reading every bucket whole always answers


def test_the_merge_stops_early_when_the_head_repeats_across_buckets(portal: Any) -> None:
    """The reason it exists: 30 buckets of 1,000 items each, where the same few items lead every
    bucket, are answered after one page of each (the floors' sum falls under the 10th sum)."""
    buckets = [{f"i{j}": 10_000 // (j + 1) for j in range(1000)} for _ in range(30)]
    reader = DictPages(buckets)
    ranked, stats = portal.call(threshold_merge.top_k, reader, len(buckets), 10, 64, 10_000)
    assert ranked == oracle(buckets, 10)
    assert stats.rounds == 1 and stats.candidates == 64 and stats.resolved <= 64


async def _connect(url: str, cluster: bool) -> Any:
    return connect(url, cluster=cluster)


@pytest.fixture(scope="module", params=["single", "cluster"])
def redis(request, portal, redis_server, redis_cluster_servers):  # type: ignore[no-untyped-def]
    cluster = request.param == "cluster"
    client = portal.call(_connect, (redis_cluster_servers if cluster else redis_server).url, cluster)
    yield client
    portal.call(client.aclose)


async def _store_read(redis: Any, buckets: list[dict[str, int]], k: int, page: int, budget: int) -> Any:
    """Writes the buckets as a stream's minute buckets, then reads them with `read_exact` and
    with the Redis reader alone."""
    spec = StreamSpec(f"tm{next(_ids)}-{uuid.uuid4().hex[:8]}")
    cover = [Bucket(60_000 * i, Resolution.MINUTE) for i in range(len(buckets))]
    keys = [f"pt:{{{spec.id}}}:c:m:{b.start_ms}:" for b in cover]
    pipe = redis.pipeline(transaction=False)
    for key, counts, b in zip(keys, buckets, cover, strict=True):
        if counts:
            pipe.zadd(key, counts)
            # the bucket's total: exact_cover leaves out buckets whose total is 0
            pipe.hset(f"pt:{{{spec.id}}}:m:m:{b.start_ms}", "t:", sum(counts.values()))
        pipe.pexpire(key, 60_000)
        pipe.pexpire(f"pt:{{{spec.id}}}:m:m:{b.start_ms}", 60_000)
    await pipe.execute()
    store = RedisTrendingStore(redis, TrendingSettings(exact_page_items=page, exact_pages_max=budget))
    rows, _other, _total = await store.read_exact(spec, cover, "", k)
    # the read merges only the buckets holding items (an empty bucket's total is 0)
    full = [key for key, counts in zip(keys, buckets, strict=True) if counts]
    reader = RedisBucketPages(redis, redis.register_script(SUMS), full, _plain)
    ranked, _stats = await threshold_merge.top_k(reader, len(full), k, page, budget)
    await redis.delete(*keys)
    return rows, ranked, store.exact_reads


async def _plain(aw: Any) -> Any:
    return await aw


@HYP
@example(buckets=[{"b": 1, "a": 1}], k=1, page=1, budget=100)
@given(buckets=BUCKETS.filter(bool), k=st.integers(1, 8), page=st.integers(1, 4), budget=st.integers(0, 30))
def test_read_exact_on_redis_equals_the_oracle_by_either_path(portal: Any, redis: Any, buckets: list[dict[str, int]],
                                                              k: int, page: int, budget: int) -> None:
    rows, ranked, reads = portal.call(_store_read, redis, buckets, k, page, budget)
    truth = oracle(buckets, k)
    assert rows == [(i.decode(), c) for i, c in truth]
    assert ranked is None or ranked == truth
    holding = sum(1 for b in buckets if b)
    if holding <= 1:      # no bucket holds items (nothing is read), or one: its top is read from it
        assert reads == {"one": holding, "threshold": 0, "union": 0}
    else:
        assert reads == ({"one": 0, "threshold": 1, "union": 0} if ranked is not None
                         else {"one": 0, "threshold": 0, "union": 1})

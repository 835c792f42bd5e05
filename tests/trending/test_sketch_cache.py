"""The per-process cache of deserialized sketches behind approximate reads (sketch_cache.py,
sketch_read_redis.py): bounded by its byte budget in least-recently-used order (against a model),
and, on a real Redis, never stale: after every batch, including late events into closed buckets,
a cached read's sketch holds exactly the range's weight and every bound holds the brute-force
count; an unchanged range is read again without fetching a single sketch list."""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid
from collections import Counter, OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.region.trending.events import TrendEvent
from podium.region.trending.sketch_cache import ENTRY_BYTES_MIN, SketchCache, runs
from podium.region.trending.store_redis import RedisTrendingStore
from podium.region.trending.streams import StreamSpec
from podium.replication import trending_sketch as sketch
from podium.replication.trending_buckets import DAY_MS, cover

from podium.config import TrendingSettings
from podium.redis_client import connect

T0 = (time.time_ns() // 1_000_000 // DAY_MS - 3) * DAY_MS     # within every resolution's retention
SPAN_MS = 2 * DAY_MS
SPEC = StreamSpec("c", lateness_ms=3 * DAY_MS, sketch_lg_size=3, minute_buckets_kept=10_080)
HYP = settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_ids = itertools.count()


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40)), max_size=60), st.integers(0, 3_000))
def test_the_cache_keeps_the_most_recent_entries_within_its_byte_budget(ops, bytes_max) -> None:  # type: ignore[no-untyped-def]
    """Puts (key, sketch of n items) and gets, against an OrderedDict model of LRU by size."""
    cache = SketchCache(bytes_max)
    model: OrderedDict[int, int] = OrderedDict()       # key -> size, least recently used first
    for step, (key, n) in enumerate(ops):
        if n % 3 == 0:                                   # a lookup of the current version
            found = cache.get(key, "v") is not None
            assert found == (key in model)
            if found:
                model.move_to_end(key)
            continue
        s = sketch.of_counts([(f"item-{step}-{j}", 1) for j in range(n)], 5)
        size = max(ENTRY_BYTES_MIN, s.get_serialized_size_bytes())
        cache.put(key, "v", s)
        model.pop(key, None)
        if size <= bytes_max:
            model[key] = size
        while sum(model.values()) > bytes_max:
            model.popitem(last=False)
        assert list(cache.entries) == list(model)
        assert cache.bytes == sum(model.values()) <= bytes_max
    assert cache.get(99, "v") is None


def test_runs_split_the_cover_by_resolution() -> None:
    assert runs([]) == []
    assert runs(["m", "m", "h", "d", "d", "d", "h", "m"]) == [(0, 2), (2, 3), (3, 6), (6, 7), (7, 8)]


async def _connect(url: str) -> Any:
    return connect(url)


@pytest.fixture(scope="module")
def stores(portal, redis_server):  # type: ignore[no-untyped-def]
    """Stores sharing one Redis: the default cache, a tiny one (evicting all the time), none."""
    redis = portal.call(_connect, redis_server.url)
    yield [RedisTrendingStore(redis, TrendingSettings(sketch_cache_bytes_max=n, sketch_deltas_max=3))
           for n in (TrendingSettings().sketch_cache_bytes_max, 600, 0)]
    portal.call(redis.aclose)


# a few hot minutes, so buckets take many deltas (lists past sketch_deltas_max are compacted)
_at = st.one_of(st.integers(0, SPAN_MS - 1), st.sampled_from([0, 61_000, 3_600_000, DAY_MS + 120_000]))
events_st = st.lists(st.tuples(st.integers(0, 11), _at, st.sampled_from([1, 1, 2, 7])), min_size=1, max_size=20)


async def _check(stores: list[RedisTrendingStore], batches: list[tuple[list[tuple[int, int, int]], int]],
                 ranges: list[tuple[int, int]]) -> None:
    """`batches`: (events, then 0: no read, 1: read, 2: wait for the compactions and read)."""
    spec = dataclasses.replace(SPEC, id=f"c{next(_ids)}-{uuid.uuid4().hex[:10]}")
    seen: list[TrendEvent] = []
    for b, (batch, then) in enumerate(batches):
        # later batches land mostly in buckets earlier batches already wrote (closed ones included),
        # appending to sketch lists a read kept merged, or to lists compacted since
        events = [TrendEvent(spec.id, f"item-{i}", T0 + at, w, f"e{b}-{j}") for j, (i, at, w) in enumerate(batch)]
        assert all(await stores[0].apply(spec, events))
        seen += events
        if then == 0 and b < len(batches) - 1:
            continue
        if then == 2:
            await stores[0].compactor.settle()
        for lo, hi in ranges:
            a, z = sorted((T0 + lo, T0 + hi))
            buckets = cover(a // 60_000 * 60_000, z // 60_000 * 60_000 + 60_000, spec.resolutions)
            truth = Counter[str]()
            for e in seen:
                if buckets[0].start_ms <= e.at_ms < buckets[-1].start_ms + buckets[-1].resolution.size_ms:
                    truth[e.item] += e.weight
            for store in stores:
                merged, n = await store.read_sketch(spec, buckets, "")
                assert merged.total_weight == n == sum(truth.values())
                for item in truth.keys() | {"never-sent"}:
                    lower, upper = merged.get_lower_bound(item), merged.get_upper_bound(item)
                    assert lower <= truth[item] <= upper
                    assert upper - lower <= sketch.epsilon(spec.sketch_lg_size) * n
                cache = store.sketch_reader.cache
                assert cache.bytes == sum(e.size for e in cache.entries.values()) <= cache.bytes_max
            # read twice more with nothing written: the default cache fetches no list and answers the same,
            # and a read's sketch is its own (changing it changes no later answer)
            cache = stores[0].sketch_reader.cache
            first, _n = await stores[0].read_sketch(spec, buckets, "")
            misses, rows = cache.misses, sketch.frequent_rows(first)
            first.update("poison", 1_000_000)
            again, _n = await stores[0].read_sketch(spec, buckets, "")
            assert cache.misses == misses
            assert sketch.frequent_rows(again) == rows

@HYP
@given(batches=st.lists(st.tuples(events_st, st.integers(0, 2)), min_size=1, max_size=10),
       ranges=st.lists(st.tuples(st.integers(0, SPAN_MS), st.integers(0, SPAN_MS)), min_size=1, max_size=3))
def test_cached_reads_hold_the_exact_weight_and_bounds_after_every_batch(stores, portal, batches,  # type: ignore[no-untyped-def]
                                                                        ranges) -> None:
    portal.call(_check, stores, batches, ranges)

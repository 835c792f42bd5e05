"""exact_cover: the buckets an exact read merges hold the same counts as the range's cover, against
the reference bucket table (caps included), and a read of recent events over a long range merges
one coarse bucket instead of the fine edges."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.trending.events import TrendEvent, query_series
from podium.region.trending.exact_cover import BucketCounts, merge_plan, parents
from podium.region.trending.streams import StreamSpec
from podium.region.trending.table import BucketTable
from podium.replication.trending_buckets import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bucket,
    Resolution,
    cover,
    resolve_range,
)

from tests.trending.strategies import T0, accepted, histories, query_ranges

SPEC = StreamSpec(
    "s",
    dimensions=("mode", "platform"),
    lateness_ms=2 * HOUR_MS,
    sketch_lg_size=5,
    minute_buckets_kept=10_080,
)


def _counts(table: BucketTable, buckets: list[Bucket], series: str) -> dict[Bucket, BucketCounts]:
    """What the store reads from Redis, taken from the reference table."""
    names = [pair.split("=", 1)[0] for pair in series.split("&")] if series else []
    out = {}
    for b in buckets:
        whole = table.cells.get((b.resolution, b.start_ms, ""))
        cell = table.cells.get((b.resolution, b.start_ms, series))
        full = any(
            len(table.values_seen.get((b.resolution, b.start_ms, n), ()))
            >= table.spec.dim_values_per_bucket_max
            for n in names
        )
        out[b] = BucketCounts(
            whole.total if whole else 0, cell.total if cell else 0, cell.other if cell else 0, full
        )
    return out


def _table(spec: StreamSpec, events: list[TrendEvent | None]) -> BucketTable:
    table = BucketTable(spec)
    table.apply([e for e in events if e is not None])
    return table


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(SPEC, events_max=150),
    rng=query_ranges(T0),
    capped=st.booleans(),
    dims=st.sampled_from([None, {"mode": "a"}, {"mode": "~other"}, {"mode": "b", "platform": "c"}]),
)
def test_the_merged_buckets_hold_the_covers_counts(
    history: Any, rng: tuple[int, int, str | None], capped: bool, dims: dict[str, str] | None
) -> None:
    import dataclasses

    spec = dataclasses.replace(SPEC, items_per_bucket_max=6, dim_values_per_bucket_max=2) if capped else SPEC
    table = _table(spec, accepted(spec, history))
    a, b = resolve_range(T0, from_ms=rng[0], to_ms=rng[1])
    buckets = cover(a, b, spec.resolutions)
    series = query_series(spec, dims)
    plan = merge_plan(
        buckets, spec.resolutions, _counts(table, [*buckets, *parents(buckets, spec.resolutions)], series)
    )
    assert table.read(plan, series)[0] == +table.read(buckets, series)[0]
    assert len(plan) <= len(buckets)
    spans = sorted((p.start_ms, p.end_ms) for p in plan)
    assert all(x[1] <= y[0] for x, y in itertools.pairwise(spans))  # disjoint


def test_recent_events_over_a_long_range_merge_one_day_bucket() -> None:
    """The adversarial wide read: a 30-day range whose events all lie in the last hour reads
    today's day bucket alone, not today's hours and this hour's minutes."""
    now = T0 + DAY_MS + 10 * HOUR_MS + 30 * MINUTE_MS
    events = [TrendEvent("s", f"w-{i}", now - 1 - i * 1000, 1 + i % 7, f"e{i}") for i in range(3000)]
    table = _table(SPEC, events)
    a, b = resolve_range(now, last="30d")
    buckets = cover(a, b, SPEC.resolutions)
    plan = merge_plan(
        buckets, SPEC.resolutions, _counts(table, [*buckets, *parents(buckets, SPEC.resolutions)], "")
    )
    assert len(buckets) > 40
    assert plan == [Bucket(now - now % DAY_MS, Resolution.DAY)]
    # an event after the range in the same day (future skew) is excess: today stays split
    table.apply([TrendEvent("s", "late", b + MINUTE_MS, 1, "future")])
    plan = merge_plan(
        buckets, SPEC.resolutions, _counts(table, [*buckets, *parents(buckets, SPEC.resolutions)], "")
    )
    assert Bucket(now - now % DAY_MS, Resolution.DAY) not in plan and len(plan) > 1

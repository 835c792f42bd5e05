"""The pure core against brute force: bucket covers (exact and minimal), calendar ranges in time
zones, exact top-K over random histories, caps, and approximate answers within their bounds."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.trending.events import TrendEvent, query_series, series_of
from podium.region.trending.streams import StreamSpec
from podium.region.trending.table import BucketTable
from podium.replication import trending_sketch as sketch
from podium.replication.trending_buckets import (
    DAY_MS,
    MINUTE_MS,
    Calendar,
    Resolution,
    check_retention,
    cover,
    resolve_range,
    widen_to_retention,
)
from podium.replication.trending_topk import exact_top

from podium.errors import BadUserInput
from tests.trending.strategies import (
    LIMITS,
    T0,
    ZONES,
    Arrival,
    accepted,
    histories,
    oracle,
    query_ranges,
    ranked,
)

ALL = (Resolution.DAY, Resolution.HOUR, Resolution.MINUTE)
SPEC = StreamSpec("maps", dimensions=("mode", "platform"), lateness_ms=2 * 3_600_000)
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def minimal_cover_size(a: int, b: int, resolutions: tuple[Resolution, ...]) -> int:
    """Dynamic programming over minutes: the fewest aligned buckets tiling [a, b)."""
    n = (b - a) // MINUTE_MS
    best = [0] + [10**9] * n          # best[j]: fewest buckets tiling [a, a + j minutes)
    for j in range(1, n + 1):
        end = a + j * MINUTE_MS
        for r in resolutions:
            size = r.size_ms // MINUTE_MS
            if j >= size and end % r.size_ms == 0:
                best[j] = min(best[j], best[j - size] + 1)
    return best[n]


@SLOW
@given(st.integers(0, 3 * DAY_MS // MINUTE_MS), st.integers(1, 4 * DAY_MS // MINUTE_MS),
       st.sampled_from([ALL, (Resolution.HOUR, Resolution.MINUTE), (Resolution.DAY, Resolution.MINUTE)]))
def test_cover_tiles_the_range_with_the_fewest_buckets(start_min: int, length_min: int,
                                                       resolutions: tuple[Resolution, ...]) -> None:
    a = T0 + start_min * MINUTE_MS
    b = a + length_min * MINUTE_MS
    buckets = cover(a, b, resolutions)
    assert buckets[0].start_ms == a and buckets[-1].end_ms == b
    assert all(x.end_ms == y.start_ms for x, y in itertools.pairwise(buckets))
    assert all(x.start_ms % x.resolution.size_ms == 0 for x in buckets)
    assert len(buckets) == minimal_cover_size(a, b, resolutions)


def test_cover_refuses_what_the_finest_bucket_cannot_express() -> None:
    with pytest.raises(BadUserInput):
        cover(T0 + MINUTE_MS, T0 + 3 * 3_600_000, (Resolution.DAY, Resolution.HOUR))


def test_retention_is_checked_per_resolution() -> None:
    now = T0
    kept = {Resolution.MINUTE: 60, Resolution.HOUR: 48, Resolution.DAY: 10}
    check_retention(cover(now - 59 * MINUTE_MS, now, ALL), now, kept)
    with pytest.raises(BadUserInput, match="minute buckets older"):
        check_retention(cover(now - 61 * MINUTE_MS, now, ALL), now, kept)


@SLOW
@given(st.integers(1, 60 * DAY_MS // MINUTE_MS))
def test_relative_ranges_widen_to_what_is_kept(minutes: int) -> None:
    now = T0 + 12_345_678
    kept = {Resolution.MINUTE: 2880, Resolution.HOUR: 840, Resolution.DAY: 400}
    a, b = resolve_range(now, last=f"{minutes}m")
    widened = widen_to_retention(a, now, kept)
    assert widened <= a and a - widened < DAY_MS
    check_retention(cover(widened, b, ALL), now, kept)      # never refused for its edges
    if a >= now - 2 * DAY_MS + MINUTE_MS:
        assert widened == a


@SLOW
@given(st.integers(0, 400 * DAY_MS // MINUTE_MS), st.sampled_from(ZONES), st.sampled_from(list(Calendar)))
def test_calendar_ranges_start_at_local_midnight(minute: int, tz: str, calendar: Calendar) -> None:
    now = 1_760_000_000_000 + minute * MINUTE_MS
    a, b = resolve_range(now, calendar=calendar, tz=tz)
    zi = ZoneInfo(tz)
    start, end = datetime.fromtimestamp(a / 1000, zi), datetime.fromtimestamp(b / 1000, zi)
    assert a <= now < b
    assert (start.hour, start.minute) == (0, 0) and (end.hour, end.minute) == (0, 0)
    days = 7 if calendar is Calendar.WEEK else 1
    assert end.date() - start.date() == timedelta(days=days)
    if calendar is Calendar.WEEK:
        assert start.weekday() == 0
    # a local day is 23, 23.5, 24, 24.5 or 25 hours: DST-aware, not 86,400,000 ms
    assert abs((b - a) - days * DAY_MS) <= 3_600_000
    assert cover(a, b, ALL)[0].start_ms == a


def test_relative_ranges_include_the_current_minute() -> None:
    now = T0 + 90_000
    assert resolve_range(now, last="3h") == (T0 + MINUTE_MS - 3 * 3_600_000 + MINUTE_MS, T0 + 2 * MINUTE_MS)
    for bad in ("3", "0h", "3y", "-1h", "1000000h"):
        with pytest.raises(BadUserInput):
            resolve_range(now, last=bad)
    with pytest.raises(BadUserInput):
        resolve_range(now, last="1h", from_ms=1, to_ms=2)


def test_series_cover_every_subset_of_dimensions() -> None:
    assert series_of((("mode", "r"), ("platform", "pc"))) == ["", "mode=r", "platform=pc", "mode=r&platform=pc"]
    assert query_series(SPEC, {"platform": "pc", "mode": "r"}) == "mode=r&platform=pc"
    with pytest.raises(BadUserInput):
        query_series(SPEC, {"region": "eu"})


def _ingest(spec: StreamSpec, history: list[Arrival]) -> tuple[BucketTable, list[TrendEvent | None]]:
    events = accepted(spec, history)
    table = BucketTable(spec)
    table.apply(e for e in events if e is not None)
    return table, events


@SLOW
@given(histories(SPEC), query_ranges(), st.sampled_from([None, {"mode": "a"}, {"mode": "b", "platform": "c"}]),
       st.integers(1, 50))
def test_exact_top_k_equals_brute_force(history: list[Arrival], rng: tuple[int, int, str | None],
                                        dims: dict[str, str] | None, k: int) -> None:
    table, events = _ingest(SPEC, history)
    a, b = resolve_range(T0, from_ms=rng[0], to_ms=rng[1])
    counts, other, total = table.read(cover(a, b, SPEC.resolutions), query_series(SPEC, dims))
    truth = oracle(events, a, b, dims)
    assert [(t.item, t.count) for t in exact_top(counts, k)] == ranked(truth)[:k]
    assert (other, total) == (0, sum(truth.values()))


CAPPED = StreamSpec("capped", dimensions=("mode",), lateness_ms=3_600_000, items_per_bucket_max=5,
                    dim_values_per_bucket_max=2)


@SLOW
@given(histories(CAPPED, items=30), query_ranges())
def test_caps_bound_each_bucket_and_count_the_excess_as_other(history: list[Arrival],
                                                               rng: tuple[int, int, str | None]) -> None:
    table, events = _ingest(CAPPED, history)
    assert all(len(c.counts) <= CAPPED.items_per_bucket_max for c in table.cells.values())
    assert all(len(v) <= CAPPED.dim_values_per_bucket_max for v in table.values_seen.values())
    a, b = resolve_range(T0, from_ms=rng[0], to_ms=rng[1])
    counts, other, total = table.read(cover(a, b, CAPPED.resolutions), "")
    truth = oracle(events, a, b)
    assert total == sum(truth.values()) == sum(counts.values()) + other
    assert all(c <= truth[i] for i, c in counts.items())


APPROX = StreamSpec("approx", lateness_ms=3_600_000, sketch_lg_size=4)


@SLOW
@given(histories(APPROX, events_max=600, items=60), query_ranges(), st.integers(1, 5), st.booleans())
def test_approximate_counts_are_within_epsilon_n_and_the_top_k_is_right_past_the_gap(
        history: list[Arrival], rng: tuple[int, int, str | None], k: int, two_regions: bool) -> None:
    a, b = resolve_range(T0, from_ms=rng[0], to_ms=rng[1])
    buckets = cover(a, b, APPROX.resolutions)
    if two_regions:   # the same stream fed in two regions: their sketches merge like buckets do
        half = len(history) // 2
        t1, e1 = _ingest(APPROX, history[:half])
        t2, e2 = _ingest(APPROX, history[half:])
        merged = t1.read_sketch(buckets, "")
        merged.merge(t2.read_sketch(buckets, ""))
        truth = oracle(e1, a, b) + oracle(e2, a, b)
    else:
        table, events = _ingest(APPROX, history)
        merged = table.read_sketch(buckets, "")
        truth = oracle(events, a, b)
    n = sum(truth.values())
    assert merged.total_weight == n
    bound = sketch.epsilon(APPROX.sketch_lg_size) * n
    items, guaranteed = sketch.top(merged, k)
    for t in items:
        assert t.lower <= truth[t.item] <= t.upper
        assert t.count - truth[t.item] <= bound and t.error_bound <= bound
    exact = ranked(truth)
    exact_set = {i for i, _ in exact[:k]}
    if len(exact) > k and exact[k - 1][1] - exact[k][1] > 2 * bound:
        assert {t.item for t in items} == exact_set
        assert guaranteed
    if guaranteed:
        assert {t.item for t in items} == exact_set


def test_k_of_the_sketch_path_matches_exact_when_nothing_was_purged() -> None:
    counts = {"dust2": 9, "inferno": 4, "mirage": 4, "nuke": 1}
    s = sketch.of_counts(counts.items(), 6)
    items, guaranteed = sketch.top(s, 3)
    assert [(t.item, t.count, t.error_bound) for t in items] == [(t.item, t.count, 0) for t in exact_top(counts, 3)]
    assert guaranteed


def test_stream_specs_refuse_hostile_declarations() -> None:
    for bad in ({"id": "x y"}, {"id": "s", "dimensions": ["a", "b", "c", "d"]}, {"id": "s", "resolutions": []},
                {"id": "s", "items_per_bucket_max": 10**12}, {"id": "s", "lateness_ms": True}, [], "s",
                {"id": "s", "surprise": 1}, {"id": "s", "resolutions": ["second"]}):
        with pytest.raises(BadUserInput):
            StreamSpec.from_dict(bad, LIMITS)
    spec = StreamSpec.from_dict({"id": "s", "dimensions": ["mode"], "resolutions": ["hour", "minute"]}, LIMITS)
    assert StreamSpec.from_dict(spec.to_dict(), LIMITS) == spec

"""`server_side.percentile` against the samples a histogram was filled from."""

from __future__ import annotations

import bisect
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.devtools.bench import server_side
from podium.telemetry import LATENCY_BUCKETS_MS

BOUNDS = (*LATENCY_BUCKETS_MS, math.inf)


def buckets_of(samples: list[float]) -> server_side.Buckets:
    """Cumulative counts per upper bound, as Prometheus exposes them (le: sample <= bound)."""
    return {b: float(sum(1 for s in samples if s <= b)) for b in BOUNDS}


@given(
    before=st.lists(st.floats(0, 5000), max_size=30),
    during=st.lists(st.floats(0, 5000), min_size=1, max_size=200),
    q=st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_the_quantile_lies_in_the_bucket_of_the_true_quantile(
    before: list[float], during: list[float], q: float
) -> None:
    h0 = buckets_of(before)
    h1 = buckets_of(before + during)
    got = server_side.percentile(h0, h1, q)
    assert got is not None
    # the nearest-rank quantile of the samples recorded between the two scrapes, and its bucket
    true = sorted(during)[max(0, math.ceil(q * len(during)) - 1)]
    i = bisect.bisect_left(BOUNDS, true)
    lower = 0.0 if i == 0 else BOUNDS[i - 1]
    upper = BOUNDS[i] if not math.isinf(BOUNDS[i]) else lower
    assert lower <= got <= upper


def test_interpolates_inside_a_bucket_and_stops_at_the_last_finite_bound() -> None:
    empty = buckets_of([])
    assert server_side.percentile(empty, buckets_of([12.0] * 4), 0.5) == pytest.approx(
        17.5
    )  # 10..25, half-way
    assert server_side.percentile(empty, buckets_of([9000.0]), 0.99) == 2500.0
    assert server_side.percentile(empty, empty, 0.5) is None
    with pytest.raises(ValueError):
        server_side.percentile(empty, empty, 0.0)


def test_cpu_and_wait_sum_the_threads_alive_in_both_snapshots() -> None:
    before = {"1": (1_000_000_000, 0), "2": (0, 500_000_000), "3": (7, 7)}
    after = {"1": (3_000_000_000, 250_000_000), "2": (1_000_000_000, 1_500_000_000), "4": (9, 9)}
    assert server_side.cpu_and_wait_s(before, after) == (3.0, 1.25)

"""A region's convergence lag quantiles (`/v1/regions`) are those of every change recorded: the
batch enters the sketch in one call, with nothing dropped or rounded away."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.global_.service import RegionStatus


@given(batches=st.lists(st.lists(st.integers(0, 10_000_000), max_size=40), max_size=5))
def test_lag_quantiles_are_those_of_every_recorded_change(batches: list[list[int]]) -> None:
    status = RegionStatus("eu-west")
    for lags in batches:
        status.record_lags(lags)
    every = sorted(lag for lags in batches for lag in lags)
    q = status.lag_quantiles()
    if not every:   # below the sketch's k (200) values it is exact
        assert q == {"p50": None, "p99": None, "max": None}
        return
    assert q["max"] == every[-1]
    assert q["p50"] in every and q["p99"] in every
    n = len(every)
    for quantile, value in ((0.5, q["p50"]), (0.99, q["p99"])):
        assert sum(v < value for v in every) <= quantile * n <= sum(v <= value for v in every)

"""The metric-name extraction the existence checks rely on: it must find every metric and nothing else."""

from __future__ import annotations

import pytest

from tests.ops.promql import metric_names


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (region) (rate(podium_a_total{route="/v1/scores", status=~"5.."}[5m])) / on(region) group_left podium_b',
     {"podium_a_total", "podium_b"}),
    ('histogram_quantile(0.99, sum by (le) (rate(podium_h_bucket{tier="$tier"}[$__rate_interval])))', {"podium_h_bucket"}),
    ("rate(x[1h] offset 10m) > 3 * (y or z * 0) unless w", {"x", "y", "z", "w"}),
    ("max(podium_used{node=\"a\"} / (podium_max > 0)) > bool 0.85", {"podium_used", "podium_max"}),
    ("up == 0", {"up"}),
    ('label_replace(foo, "dst", "$1", "src", "(.*)")', {"foo"}),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names

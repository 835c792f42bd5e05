"""The client's region list from the global tier's directory (pure, fake clock)."""

from __future__ import annotations

import pytest

from podium.client_regions import RegionList, directory_order
from podium.clock import FakeClock

ROWS = [{"region": "ap", "url": "http://ap/", "healthy": True},
        {"region": "us", "url": "http://us", "healthy": True},
        {"region": "eu", "url": "http://eu", "healthy": False}]


def test_home_first_then_the_directory_order() -> None:
    assert directory_order(ROWS, "us") == (["http://us", "http://ap", "http://eu"], 0)
    assert directory_order(ROWS, None) == (["http://ap", "http://us", "http://eu"], 0)


def test_an_unhealthy_home_starts_at_the_first_healthy_region() -> None:
    assert directory_order(ROWS, "eu") == (["http://eu", "http://ap", "http://us"], 1)
    down = [dict(row, healthy=False) for row in ROWS]
    assert directory_order(down, "eu")[1] == 0          # none healthy: try home anyway


def test_unknown_home_or_empty_directory_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the directory"):
        directory_order(ROWS, "mars")
    with pytest.raises(ValueError, match="no region"):
        directory_order([], None)


def test_starting_away_marks_home_down_and_probes_it_for_failback() -> None:
    clock = FakeClock()
    regions = RegionList(["http://eu", "http://ap"], clock, down_s=10, failback_s=5)
    regions.start_away(1)
    assert regions.url == "http://ap" and not regions.at_home
    assert not regions.failback_due()
    clock.advance(5000)
    assert regions.failback_due()

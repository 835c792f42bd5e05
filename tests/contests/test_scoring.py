"""Scoring rules: points are exact hundredths, a delta is points × count, and hostile rules and
events are BAD_USER_INPUT."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from podium.region.contests.scoring import FeedEvent, ScoringRules, delta_of

from podium.errors import BadUserInput


@given(st.dictionaries(st.sampled_from(["run", "four", "six", "wicket", "goal"]),
                       st.integers(-1000, 1000).map(lambda c: c / 4), min_size=1),
       st.integers(1, 1000))
def test_delta_is_points_in_hundredths_times_count(points: dict[str, float], count: int) -> None:
    rules = ScoringRules.from_dict({"version": 3, "points": points})
    for kind, value in points.items():
        event = FeedEvent.from_dict({"id": "e", "match": "m", "player": "p", "kind": kind, "count": count})
        assert delta_of(event, rules) == round(value * 100) * count


@pytest.mark.parametrize("doc", [None, [], {"version": 0, "points": {"a": 1}}, {"version": 1, "points": {}},
                                 {"version": 1, "points": {"a b": 1}}, {"version": 1, "points": {"a": True}},
                                 {"version": True, "points": {"a": 1}}, {"version": 1, "points": {"a": 1e300}}])
def test_hostile_rules_are_refused(doc: Any) -> None:
    with pytest.raises(BadUserInput):
        ScoringRules.from_dict(doc)


@pytest.mark.parametrize("doc", [None, 5, {"id": "e"}, {"id": "e", "match": "m", "player": "p", "kind": "six", "count": 0},
                                 {"id": "\ud800", "match": "m", "player": "p", "kind": "six"},
                                 {"id": "e", "match": "m", "player": "p", "kind": "six", "voids": 7}])
def test_hostile_events_are_refused(doc: Any) -> None:
    with pytest.raises(BadUserInput):
        FeedEvent.from_dict(doc)


def test_an_event_without_a_rule_is_refused() -> None:
    rules = ScoringRules.from_dict({"version": 1, "points": {"six": 6}})
    with pytest.raises(BadUserInput):
        delta_of(FeedEvent.from_dict({"id": "e", "match": "m", "player": "p", "kind": "goal"}), rules)

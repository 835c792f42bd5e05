"""Exact top-K and the STRONG k-way merge against a brute-force oracle; the `latest` counter-example
that shows why the union of regional top-K lists is not enough for `latest` boards."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.global_.topk import Row, merge_tops, top_k

from podium.model import Operator, SortOrder
from podium.ranking import is_better, sort_key

REGIONS = ["ap-south", "eu-west", "us-east"]
players = st.sampled_from([f"p{i}" for i in range(12)])
cell = st.tuples(st.integers(-20, 20), st.integers(0, 30))
regional = st.fixed_dictionaries({r: st.dictionaries(players, cell, max_size=12) for r in REGIONS})


def _sorted(rows: dict[str, tuple[int, int]], order: SortOrder) -> list[Row]:
    out = [Row(p, s, t) for p, (s, t) in rows.items()]
    return sorted(out, key=lambda r: sort_key(r.score, r.achieved_at_ms, r.player, order))


@given(regional, st.sampled_from(list(SortOrder)), st.integers(0, 15))
def test_best_union_of_regional_top_k_is_exact(data: dict[str, dict[str, tuple[int, int]]],
                                               order: SortOrder, k: int) -> None:
    oracle: dict[str, tuple[int, int]] = {}
    for rows in data.values():
        for p, (s, t) in rows.items():
            cur = oracle.get(p)
            if cur is None or is_better(s, cur[0], order) or (s == cur[0] and t < cur[1]):
                oracle[p] = (s, t)
    tops = {r: _sorted(rows, order)[:k] for r, rows in data.items()}  # only each region's top-k ships
    assert merge_tops(tops, Operator.BEST, order, k) == _sorted(oracle, order)[:k]
    assert top_k([Row(p, s, t) for p, (s, t) in oracle.items()], k, order) == _sorted(oracle, order)[:k]


@given(regional, st.integers(0, 15))
def test_counter_merge_over_complete_lists_sums(data: dict[str, dict[str, tuple[int, int]]], k: int) -> None:
    totals: dict[str, tuple[int, int]] = {}
    for rows in data.values():
        for p, (s, t) in rows.items():
            cur = totals.get(p, (0, 0))
            totals[p] = (cur[0] + s, max(cur[1], t))
    tops = {r: _sorted(rows, SortOrder.DESC) for r, rows in data.items()}
    assert merge_tops(tops, Operator.INCREMENT, SortOrder.DESC, k) == _sorted(totals, SortOrder.DESC)[:k]


def test_latest_union_of_regional_top_k_is_not_enough() -> None:
    # K=1. eu-west: q=100 (stale), p=50. us-east: q=10, written later. Globally p=50 is first, but
    # p is in neither region's top-1: so `latest` boards ship every change (module docstring).
    eu = [Row("q", 100, 1), Row("p", 50, 2)]
    us = [Row("q", 10, 3)]
    assert merge_tops({"eu-west": eu, "us-east": us}, Operator.LATEST, SortOrder.DESC, 1) == [Row("p", 50, 2)]
    assert merge_tops({"eu-west": eu[:1], "us-east": us[:1]}, Operator.LATEST, SortOrder.DESC, 1) == [Row("q", 10, 3)]

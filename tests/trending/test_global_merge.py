"""The global merge of regions' shipped cells against a brute-force oracle (counts summed across
three regions): EXACT answers equal the oracle's top-K, and are given whenever every cell is
complete; APPROXIMATE intervals hold the true count within epsilon * N, and a guaranteed answer
names the true top-K."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.global_.trending_merge import CellView, exact_if_proven, merge
from podium.replication import trending_sketch as sketches
from podium.replication.trending_topk import Precision, exact_top, rank_key

from tests.trending.strategies import zipf_items

LG = 3      # 8 slots: the sketches purge, so the approximate bounds are exercised
REGIONS = 3


def shipped(counts: Counter[str], keep: int | None) -> CellView:
    """A region's cell as its shipper sends it: the top `keep` exact counts (all when None)."""
    ranked = sorted(counts.items(), key=rank_key)
    head = ranked if keep is None else ranked[:keep]
    floor = ranked[len(head)][1] if len(head) < len(ranked) else 0
    return CellView(dict(head), floor, sum(counts.values()), 0, sketches.serialize(sketches.of_counts(counts.items(), LG)))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[CellView], Counter[str], bool]:
    """Cells of 3 regions x 1-4 buckets, the oracle's summed counts, and whether every cell is complete."""
    item = zipf_items(30) if draw(st.booleans()) else st.integers(0, 19).map(lambda i: f"item-{i}")
    truncate = draw(st.booleans())
    cells, oracle = [], Counter[str]()
    for _ in range(REGIONS * draw(st.integers(1, 4))):
        events = draw(st.lists(st.tuples(item, st.integers(1, 5)), max_size=80))
        counts = Counter[str]()
        for name, weight in events:
            counts[name] += weight
        oracle.update(counts)
        cells.append(shipped(counts, draw(st.integers(0, 12)) if truncate else None))
    return cells, oracle, all(c.floor == 0 for c in cells)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.integers(1, 8))
def test_exact_is_the_oracle_whenever_claimed(world: tuple[list[CellView], Counter[str], bool], k: int) -> None:
    cells, oracle, complete = world
    answer = merge(cells, k, Precision.EXACT, LG)
    if complete:
        assert answer.precision is Precision.EXACT
    if answer.precision is Precision.EXACT:
        assert answer.items == exact_top(oracle, k)
        assert answer.guaranteed
    assert answer.total == sum(oracle.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.integers(1, 8))
def test_approximate_bounds_hold(world: tuple[list[CellView], Counter[str], bool], k: int) -> None:
    cells, oracle, _ = world
    answer = merge(cells, k, Precision.APPROXIMATE, LG)
    assert answer.precision is Precision.APPROXIMATE
    n = sum(oracle.values())
    for t in answer.items:
        assert t.lower <= oracle[t.item] <= t.upper
        assert t.lower <= t.count <= t.upper
        assert t.error_bound <= answer.epsilon * n + 1e-9
    if answer.guaranteed:
        true_top = exact_top(oracle, k)
        assert {t.item for t in answer.items} == {t.item for t in true_top}


def test_a_truncated_cell_blocks_exact_when_the_tail_could_win() -> None:
    # region b left out "y" (floor 5): y could total 4 + 5 = 9 > x's 8, so EXACT is not proven
    a = shipped(Counter({"x": 5, "y": 4}), None)
    b = shipped(Counter({"x": 3, "y": 5, "z": 6}), 1)
    assert b.counts == {"z": 6} and b.floor == 5
    assert exact_if_proven([a, b], 1) is None
    answer = merge([a, b], 1, Precision.EXACT, LG)
    assert answer.precision is Precision.APPROXIMATE

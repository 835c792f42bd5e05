"""Settlement against a brute-force oracle: the pool is paid exactly, ties share equally (±1 unit),
better scores never get less, and unpaid ranks get nothing."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from podium.region.contests.model import PrizeBand
from podium.region.contests.settlement import payouts


@st.composite
def prize_tables(draw: st.DrawFn) -> list[PrizeBand]:
    bands, rank = [], 1
    for _ in range(draw(st.integers(0, 5))):
        lo = rank
        hi = lo + draw(st.integers(0, 4))
        bands.append(PrizeBand(lo, hi, draw(st.integers(0, 1000))))
        rank = hi + 1
    amounts = sorted((b.amount for b in bands), reverse=True)   # better ranks never pay less
    return [PrizeBand(b.rank_from, b.rank_to, a) for b, a in zip(bands, amounts, strict=True)]


standings_st = st.lists(st.integers(0, 6), max_size=30).map(
    lambda scores: sorted(((f"e{i:02d}", s) for i, s in enumerate(scores)), key=lambda x: (-x[1], x[0])))


def oracle(standings: list[tuple[str, int]], bands: list[PrizeBand]) -> dict[str, Fraction]:
    """Exact shares: each tie group splits the prizes of the ranks it occupies."""
    prize = {r: b.amount for b in bands for r in range(b.rank_from, b.rank_to + 1)}
    out: dict[str, Fraction] = {}
    for key, score in standings:
        ranks = [i + 1 for i, (_, s) in enumerate(standings) if s == score]
        out[key] = Fraction(sum(prize.get(r, 0) for r in ranks), len(ranks))
    return out


@given(standings_st, prize_tables())
def test_payouts_match_the_oracle(standings: list[tuple[str, int]], bands: list[PrizeBand]) -> None:
    paid = payouts(standings, bands)
    exact = oracle(standings, bands)
    paid_ranks = min(len(standings), bands[-1].rank_to if bands else 0)
    pool = sum(b.amount for b in bands for r in range(b.rank_from, b.rank_to + 1) if r <= paid_ranks)
    assert sum(paid.values()) == pool == sum(exact.values())
    for key, _ in standings:
        assert abs(paid.get(key, 0) - exact[key]) < 1           # a share, give or take one unit
    for (a, sa), (b, sb) in itertools.pairwise(standings):
        if sa > sb:
            assert paid.get(a, 0) >= paid.get(b, 0)


def test_three_tied_for_second_share_ranks_two_to_four() -> None:
    bands = [PrizeBand(1, 1, 100), PrizeBand(2, 3, 50), PrizeBand(4, 4, 20)]
    paid = payouts([("a", 9), ("b", 5), ("c", 5), ("d", 5), ("e", 1)], bands)
    assert paid == {"a": 100, "b": 40, "c": 40, "d": 40}

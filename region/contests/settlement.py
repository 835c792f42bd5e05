"""Prize settlement: final standings + prize table → payouts, with the documented tie rule.

Under-filled contests: when the entry fees collected are less than the prize pool, every band's
amount is scaled by collected / pool (rounded down), so escrow always covers the payouts.

Tie rule: entries with equal scores share the prizes of the ranks they occupy together, equally.
Amounts are integers (minor currency units); when a shared sum does not divide evenly, the
remainder goes one unit each to the tied entries in entry-key order, so the pool is paid exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from podium.region.contests.model import PrizeBand


def prize_of_rank(bands: Sequence[PrizeBand], rank: int) -> int:
    for band in bands:
        if band.rank_from <= rank <= band.rank_to:
            amount: int = band.amount
            return amount
    return 0


def payouts(standings: Sequence[tuple[str, int]], bands: Sequence[PrizeBand]) -> dict[str, int]:
    """`standings`: (entry key, score) best first. Returns entry key → amount for entries paid > 0."""
    out: dict[str, int] = {}
    last_paid_rank = bands[-1].rank_to if bands else 0
    i = 0
    while i < len(standings) and i < last_paid_rank:
        j = i
        while j + 1 < len(standings) and standings[j + 1][1] == standings[i][1]:
            j += 1
        pool = sum(prize_of_rank(bands, rank) for rank in range(i + 1, j + 2))
        tied = sorted(key for key, _ in standings[i:j + 1])
        share, remainder = divmod(pool, len(tied))
        for n, key in enumerate(tied):
            amount = share + (1 if n < remainder else 0)
            if amount:
                out[key] = amount
        i = j + 1
    return out


def scaled(bands: Sequence[PrizeBand], collected: int) -> list[PrizeBand]:
    """The prize table an under-filled contest pays: each amount × collected / pool, rounded down."""
    pool = sum((b.rank_to - b.rank_from + 1) * b.amount for b in bands)
    if pool <= collected:
        return list(bands)
    return [PrizeBand(b.rank_from, b.rank_to, b.amount * collected // pool) for b in bands]

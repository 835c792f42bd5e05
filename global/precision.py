"""The precision label of a global rank: every rank carries `precision`, `errorBound` and `asOf`.

Tiers come from `GlobalSettings` and are the documented contract: ranks 1..top_k are EXACT,
top_k+1..approximate_rank_max APPROXIMATE, beyond ESTIMATED. A label promises at most
`errorBound` ranks of difference from the rank over the global tier's merged state at `asOf`.

What the global tier does today is better than the contract: it keeps every merged entry in its
sorted set (see `merged_store`), so every rank is counted exactly (one ZRANK) at read time and
`errorBound` is 0 in every tier. The earlier design estimated ranks beyond K from per-region KLL
sketches; its bound did not hold (a player in two regions counted twice, superseded `latest`
values kept, counter totals split across regions: errors of 10^4 ranks against a ±48 bound,
issue 21), so it was removed rather than patched. How far `asOf` trails the regions is a separate,
measured quantity: each region's `lagMs` and `stale` flag (see `staleness`).
"""

from __future__ import annotations

from dataclasses import dataclass

from podium.config import GlobalSettings
from podium.invariant import invariant
from podium.model import Precision


@dataclass(frozen=True, slots=True)
class Tiers:
    exact_max: int
    approximate_max: int

    @classmethod
    def from_settings(cls, settings: GlobalSettings) -> Tiers:
        if not 0 < settings.top_k <= settings.approximate_rank_max:
            raise ValueError("global settings need 0 < top_k <= approximate_rank_max")
        return cls(settings.top_k, settings.approximate_rank_max)

    def precision_of(self, rank: int) -> Precision:
        invariant(rank >= 1, "ranks start at 1")
        if rank <= self.exact_max:
            return Precision.EXACT
        if rank <= self.approximate_max:
            return Precision.APPROXIMATE
        return Precision.ESTIMATED


@dataclass(frozen=True, slots=True)
class GlobalRank:
    rank: int
    precision: Precision
    error_bound: int  # ± ranks, against the merged state at as_of_ms
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "precision": self.precision.value,
                "errorBound": self.error_bound, "asOf": self.as_of_ms}


def counted(rank: int, as_of_ms: int, tiers: Tiers) -> GlobalRank:
    """A rank counted exactly in the merged sorted set: its tier's label, and no error."""
    return GlobalRank(rank, tiers.precision_of(rank), 0, as_of_ms)

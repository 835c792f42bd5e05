"""Tiered precision for a global rank: every rank carries `precision`, `errorBound` and `asOf`.

Tiers come from `GlobalSettings`: ranks 1..top_k are EXACT (served from the merged top-K, bound 0);
top_k+1..approximate_rank_max are APPROXIMATE, from the merge of the regions' fine KLL sketches,
refreshed every `sketch_refresh_ms`; beyond, ESTIMATED from coarse sketches refreshed every
`coarse_sketch_refresh_ms` (smaller to ship and merge, wider bound).

Bound. rank(s) = 1 + #entries better than s = 1 + n·F(s), F the share of the merged distribution
better than s. A KLL sketch of parameter k guarantees |F̂ − F| ≤ ε(k) for a single query at ~99%
confidence (`get_normalized_rank_error(k, False)`), and merging sketches of the same k keeps ε.
So the rank error is at most ε·n, plus one for rounding: that is `errorBound`. `asOf` is the oldest
snapshot merged, since the estimate can be no fresher than its stalest input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from datasketches import kll_doubles_sketch

from podium.config import GlobalSettings
from podium.invariant import invariant
from podium.model import Precision, SortOrder


@dataclass(frozen=True, slots=True)
class Tiers:
    exact_max: int
    approximate_max: int

    @classmethod
    def from_settings(cls, settings: GlobalSettings) -> Tiers:
        if not 0 < settings.top_k <= settings.approximate_rank_max:
            raise ValueError("global settings need 0 < top_k <= approximate_rank_max")
        return cls(settings.top_k, settings.approximate_rank_max)


@dataclass(frozen=True, slots=True)
class GlobalRank:
    rank: int
    precision: Precision
    error_bound: int  # ± ranks
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "precision": self.precision.value,
                "errorBound": self.error_bound, "asOf": self.as_of_ms}


@dataclass(frozen=True, slots=True)
class MergedSketch:
    sketch: kll_doubles_sketch
    as_of_ms: int

    @property
    def error_bound(self) -> int:
        eps: float = kll_doubles_sketch.get_normalized_rank_error(self.sketch.k, False)
        n: int = self.sketch.n
        return math.ceil(eps * n) + 1

    def better_than(self, score: int, order: SortOrder) -> float:
        """Estimated number of entries strictly better than `score`."""
        n: int = self.sketch.n
        if order is SortOrder.DESC:
            rank: float = self.sketch.get_rank(float(score), inclusive=True)
            return n * (1.0 - rank)
        rank = self.sketch.get_rank(float(score), inclusive=False)
        return n * rank


def merge_snapshots(snapshots: Iterable[tuple[bytes, int]]) -> MergedSketch | None:
    """Merge serialized regional sketches (bytes, as_of_ms); None when there are none."""
    out: MergedSketch | None = None
    for raw, as_of_ms in snapshots:
        sk = kll_doubles_sketch.deserialize(raw)
        if out is None:
            out = MergedSketch(sk, as_of_ms)
        else:
            invariant(sk.k == out.sketch.k, "regional sketches of one tier share k (so ε is known)")
            out.sketch.merge(sk)
            out = MergedSketch(out.sketch, min(out.as_of_ms, as_of_ms))
    return out


def exact(rank: int, as_of_ms: int, tiers: Tiers) -> GlobalRank:
    invariant(1 <= rank <= tiers.exact_max, "exact ranks are within the merged top-K")
    return GlobalRank(rank, Precision.EXACT, 0, as_of_ms)


def estimate(score: int, order: SortOrder, tiers: Tiers, fine: MergedSketch,
             coarse: MergedSketch | None) -> GlobalRank:
    """The rank of a score outside the exact top-K: APPROXIMATE from `fine` while within
    `approximate_max`, else ESTIMATED from `coarse` (or from `fine`, relabelled, if none yet)."""
    rank = max(tiers.exact_max + 1, round(fine.better_than(score, order)) + 1)
    if rank <= tiers.approximate_max:
        return GlobalRank(rank, Precision.APPROXIMATE, fine.error_bound, fine.as_of_ms)
    src = coarse or fine
    rank = max(tiers.approximate_max + 1, round(src.better_than(score, order)) + 1)
    return GlobalRank(rank, Precision.ESTIMATED, src.error_bound, src.as_of_ms)

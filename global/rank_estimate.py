"""Ranks beyond the exact top-K, from mergeable KLL quantile sketches of each region's scores.

rank(s) = 1 + (number of entries strictly better than s) ≈ 1 + N · F(s), where F is the fraction of
the merged distribution better than s. A KLL sketch guarantees |F̂ − F| ≤ ε (its normalized rank
error, single-sided, at ~99% confidence), so the rank error is at most ε · N: that is the
`errorBound` we report. Merging regional sketches keeps the guarantee (KLL sketches are mergeable).
A player present in several regions appears once per region in the sketches; for `best` boards the
merged distribution is therefore a slight over-count, bounded by the number of multi-region players.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketches import kll_doubles_sketch

from podium.model import Precision, SortOrder


@dataclass(frozen=True, slots=True)
class SketchSnapshot:
    region: str
    sketch: bytes
    as_of_ms: int


@dataclass(frozen=True, slots=True)
class RankEstimate:
    rank: int
    error_bound: int
    precision: Precision
    as_of_ms: int


def build_sketch(scores: Iterable[float] | np.ndarray, k: int) -> kll_doubles_sketch:
    sketch = kll_doubles_sketch(k)
    sketch.update(np.asarray(scores, dtype=np.float64))
    return sketch


def merged(snapshots: Iterable[SketchSnapshot]) -> tuple[kll_doubles_sketch | None, int]:
    """The merge of every region's sketch, and the oldest as-of among them."""
    out: kll_doubles_sketch | None = None
    as_of = 0
    for snap in snapshots:
        sk = kll_doubles_sketch.deserialize(snap.sketch)
        if out is None:
            out, as_of = sk, snap.as_of_ms
        else:
            out.merge(sk)
            as_of = min(as_of, snap.as_of_ms)
    return out, as_of


def estimate_rank(
    sketch: kll_doubles_sketch, score: int, order: SortOrder, *, exact_top: int, precision: Precision, as_of_ms: int
) -> RankEstimate:
    """Rank of `score` below the exact top, labelled with the caller's tier and the sketch's bound."""
    n = sketch.n
    if order is SortOrder.DESC:
        better = n * (1.0 - sketch.get_rank(float(score), inclusive=True))
    else:
        better = n * sketch.get_rank(float(score), inclusive=False)
    rank = max(exact_top + 1, round(better) + 1)
    error = math.ceil(sketch.normalized_rank_error(False) * n)
    return RankEstimate(rank, error, precision, as_of_ms)


def tiered_estimate(
    fine: kll_doubles_sketch, fine_as_of_ms: int, coarse: kll_doubles_sketch | None, coarse_as_of_ms: int,
    score: int, order: SortOrder, *, exact_top: int, approximate_max: int,
) -> RankEstimate:
    """APPROXIMATE from the fine sketch while the rank is within `approximate_max`; beyond it,
    ESTIMATED from the coarse sketch (with the coarse sketch's wider bound)."""
    est = estimate_rank(fine, score, order, exact_top=exact_top, precision=Precision.APPROXIMATE,
                        as_of_ms=fine_as_of_ms)
    if est.rank <= approximate_max:
        return est
    if coarse is None:
        return RankEstimate(est.rank, est.error_bound, Precision.ESTIMATED, est.as_of_ms)
    return estimate_rank(coarse, score, order, exact_top=exact_top, precision=Precision.ESTIMATED,
                         as_of_ms=coarse_as_of_ms)

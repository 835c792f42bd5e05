"""Tiered precision against an exact oracle: 1M synthetic players over 3 regions, sketches shipped
as bytes and merged; every estimated rank is within the `errorBound` it reports, per tier."""

from __future__ import annotations

import time

import numpy as np
import pytest
from datasketches import kll_doubles_sketch
from podium.global_.precision import GlobalRank, Tiers, estimate, exact, merge_snapshots

from podium.config import GlobalSettings
from podium.model import Precision, SortOrder

PLAYERS = 1_000_000
FINE_K, COARSE_K = 2000, 200
SAMPLES = 30_000


def _shipped(scores: np.ndarray, k: int, as_of_ms: int) -> tuple[bytes, int]:
    sk = kll_doubles_sketch(k)
    sk.update(scores.astype(np.float64))
    return sk.serialize(), as_of_ms


def test_tiers_from_settings_and_wire_shape() -> None:
    tiers = Tiers.from_settings(GlobalSettings())
    assert (tiers.exact_max, tiers.approximate_max) == (1000, 100_000)
    assert exact(1, 5, tiers).to_dict() == {"rank": 1, "precision": "EXACT", "errorBound": 0, "asOf": 5}
    with pytest.raises(ValueError):
        Tiers.from_settings(GlobalSettings(top_k=10, approximate_rank_max=5))


@pytest.mark.slow
@pytest.mark.parametrize("order", [SortOrder.DESC, SortOrder.ASC])
def test_one_million_players_rank_error_within_bound(order: SortOrder, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(7)
    sizes = [450_000, 350_000, 200_000]
    regions = [np.floor(rng.gamma(2.0 + i, 5000.0, size=n)).astype(np.int64) for i, n in enumerate(sizes)]
    tiers = Tiers.from_settings(GlobalSettings())
    fine = merge_snapshots(_shipped(r, FINE_K, 1000 + i) for i, r in enumerate(regions))
    coarse = merge_snapshots(_shipped(r, COARSE_K, 500 + i) for i, r in enumerate(regions))
    assert fine is not None and coarse is not None
    assert (fine.as_of_ms, coarse.as_of_ms) == (1000, 500)  # the stalest input
    everyone = np.sort(np.concatenate(regions))
    assert everyone.size == PLAYERS

    sample = rng.choice(everyone, size=SAMPLES, replace=False)
    if order is SortOrder.DESC:
        truth = 1 + everyone.size - np.searchsorted(everyone, sample, side="right")
    else:
        truth = 1 + np.searchsorted(everyone, sample, side="left")
    worst: dict[Precision, float] = {}
    bound: dict[Precision, int] = {}
    for score, true_rank in zip(sample.tolist(), truth.tolist(), strict=True):
        if true_rank <= tiers.exact_max:
            continue  # EXACT: served from the merged top-K (tests/global_/test_topk.py)
        got: GlobalRank = estimate(int(score), order, tiers, fine, coarse)
        err = abs(got.rank - true_rank)
        assert err <= got.error_bound, (score, true_rank, got)
        worst[got.precision] = max(worst.get(got.precision, 0), err)
        bound[got.precision] = got.error_bound
    assert set(worst) == {Precision.APPROXIMATE, Precision.ESTIMATED}
    assert bound[Precision.APPROXIMATE] < bound[Precision.ESTIMATED]
    with capsys.disabled():
        print(f"\n{order.value}: worst |error| / bound: "
              + ", ".join(f"{p.value} {worst[p]}/{bound[p]}" for p in worst)
              + f"; {time.perf_counter() - started:.1f} s")

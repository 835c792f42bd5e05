"""Precision labels: the documented tiers (EXACT 1..K, APPROXIMATE K+1..approximate_rank_max,
ESTIMATED beyond), each with error bound 0 since every rank is counted in the merged set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from podium.global_.precision import Tiers, counted

from podium.config import GlobalSettings
from podium.model import Precision


def test_tiers_from_settings_and_wire_shape() -> None:
    tiers = Tiers.from_settings(GlobalSettings())
    assert (tiers.exact_max, tiers.approximate_max) == (1000, 100_000)
    assert counted(1, 5, tiers).to_dict() == {"rank": 1, "precision": "EXACT", "errorBound": 0, "asOf": 5}
    # issue 21: 99,841 is within the documented APPROXIMATE tier
    assert counted(99_841, 5, tiers).precision is Precision.APPROXIMATE
    assert counted(100_001, 5, tiers).precision is Precision.ESTIMATED
    with pytest.raises(ValueError):
        Tiers.from_settings(GlobalSettings(top_k=10, approximate_rank_max=5))


@given(k=st.integers(1, 50), extra=st.integers(0, 50), rank=st.integers(1, 200))
def test_label_follows_the_rank(k: int, extra: int, rank: int) -> None:
    tiers = Tiers(k, k + extra)
    want = Precision.EXACT if rank <= k else Precision.APPROXIMATE if rank <= k + extra else Precision.ESTIMATED
    label = counted(rank, 0, tiers)
    assert (label.rank, label.precision, label.error_bound) == (rank, want, 0)

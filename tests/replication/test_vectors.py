"""Version vectors: compare is consistent with dominates, merge is a join, tokens round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from podium.replication import vectors as vv
from podium.replication.vectors import Ordering

regions = st.sampled_from(["ap-south", "eu-west", "us-east"])
vecs = st.dictionaries(regions, st.integers(0, 6), max_size=3)


@given(vecs, vecs)
def test_compare_is_antisymmetric_and_matches_dominates(a: dict[str, int], b: dict[str, int]) -> None:
    flip = {Ordering.BEFORE: Ordering.AFTER, Ordering.AFTER: Ordering.BEFORE,
            Ordering.EQUAL: Ordering.EQUAL, Ordering.CONCURRENT: Ordering.CONCURRENT}
    assert vv.compare(b, a) is flip[vv.compare(a, b)]
    assert (vv.compare(a, b) is Ordering.EQUAL) == (vv.normalized(a) == vv.normalized(b))
    assert (vv.compare(a, b) in (Ordering.AFTER, Ordering.EQUAL)) == vv.dominates(a, b)


@given(vecs, vecs, vecs)
def test_merge_is_a_join(a: dict[str, int], b: dict[str, int], c: dict[str, int]) -> None:
    assert vv.merge(a, b) == vv.merge(b, a)
    assert vv.merge(vv.merge(a, b), c) == vv.merge(a, vv.merge(b, c))
    assert vv.merge(a, a) == vv.normalized(a)
    m = vv.merge(a, b)
    assert vv.dominates(m, a) and vv.dominates(m, b)
    # least upper bound: any vector dominating both dominates the merge
    if vv.dominates(c, a) and vv.dominates(c, b):
        assert vv.dominates(c, m)


@given(vecs, regions)
def test_increment_happens_after(a: dict[str, int], region: str) -> None:
    assert vv.compare(vv.increment(a, region), a) is Ordering.AFTER


def test_concurrent_writes() -> None:
    base = {"eu-west": 1}
    assert vv.compare(vv.increment(base, "us-east"), vv.increment(base, "eu-west")) is Ordering.CONCURRENT


@given(vecs)
def test_token_round_trip(a: dict[str, int]) -> None:
    token = vv.encode(a)
    assert vv.decode(token) == vv.normalized(a)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token


@pytest.mark.parametrize("token", ["", "!!", vv.encode({}).replace("e", "") + "x", "WzFd",  # [1]
                                   "eyJhIjotMX0",  # {"a":-1}
                                   "eyJhIjoiMSJ9",  # {"a":"1"}
                                   "eyJhIjp0cnVlfQ",  # {"a":true}
                                   "A" * 5000])
def test_bad_tokens_are_value_errors(token: str) -> None:
    with pytest.raises(ValueError):
        vv.decode(token)

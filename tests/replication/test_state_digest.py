"""Anti-entropy over version-vector states: equal states give equal bucket digests; exchanging only
the entries of differing buckets and merging makes both sides equal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.replication.digest import differing, in_buckets, state_digests
from podium.replication.merge import EntryState, RegionalWrite, merge, with_write

REGIONS = ["ap-south", "eu-west", "us-east"]
writes = st.builds(
    lambda r, s, t, c: RegionalWrite(r, s, t, {r: c}),
    st.sampled_from(REGIONS), st.integers(-9, 9), st.integers(0, 9), st.integers(1, 5),
)
boards = st.dictionaries(st.sampled_from([f"p{i}" for i in range(40)]), st.lists(writes, min_size=1, max_size=4),
                         max_size=40).map(lambda d: {p: _fold(ws) for p, ws in d.items()})


def _fold(ws: list[RegionalWrite]) -> EntryState:
    state: EntryState = {}
    for w in ws:
        state = with_write(state, w)
    return state


@given(boards, boards, st.sampled_from([1, 8, 64]))
def test_diff_and_repair_converge(a: dict[str, EntryState], b: dict[str, EntryState], buckets: int) -> None:
    da, db = state_digests(a, buckets), state_digests(b, buckets)
    diff = differing(da, db)
    assert (diff == []) == (a == b)
    # repair: both sides send the entries of differing buckets; each merges what it receives
    for p in in_buckets(set(a) | set(b), diff, buckets):
        joined = merge(a.get(p, {}), b.get(p, {}))
        a[p], b[p] = joined, dict(joined)
    assert state_digests(a, buckets) == state_digests(b, buckets)
    assert a == b


@given(boards)
def test_digest_is_order_independent(a: dict[str, EntryState]) -> None:
    assert state_digests(dict(reversed(list(a.items())))) == state_digests(a)

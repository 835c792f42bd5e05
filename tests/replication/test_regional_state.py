"""The merge of regional states is commutative, associative and idempotent, so any delivery order,
duplicates and replays give the same global value; and resolve() follows each operator's rule."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st
from podium.replication.regional_state import RegionalState, merge_states, resolve, with_change

from podium.model import Operator, SortOrder

regions = st.sampled_from(["ap-south", "eu-west", "us-east"])
changes = st.tuples(regions, st.integers(-50, 50), st.integers(0, 20), st.integers(1, 30))
change_lists = st.lists(changes, max_size=25)
states = change_lists.map(lambda cs: reduce(lambda s, c: with_change(s, *c), cs, RegionalState()))


@given(states, states)
def test_merge_commutative(a: RegionalState, b: RegionalState) -> None:
    assert merge_states(a, b) == merge_states(b, a)


@given(states, states, states)
def test_merge_associative(a: RegionalState, b: RegionalState, c: RegionalState) -> None:
    assert merge_states(merge_states(a, b), c) == merge_states(a, merge_states(b, c))


@given(states)
def test_merge_idempotent(a: RegionalState) -> None:
    assert merge_states(a, a) == a


@given(change_lists, st.randoms(use_true_random=False), st.lists(st.integers(0, 24), max_size=10))
def test_any_order_with_duplicates_gives_the_same_state(cs, rnd, dups) -> None:  # type: ignore[no-untyped-def]
    in_order = reduce(lambda s, c: with_change(s, *c), cs, RegionalState())
    shuffled = cs + [cs[i] for i in dups if i < len(cs)]
    rnd.shuffle(shuffled)
    assert reduce(lambda s, c: with_change(s, *c), shuffled, {}) == in_order


@given(states)
def test_resolve_per_operator(state: RegionalState) -> None:
    if not state:
        assert resolve(Operator.BEST, SortOrder.DESC, state) is None
        return
    values = list(state.values())
    assert resolve(Operator.INCREMENT, SortOrder.DESC, state) == (sum(v[0] for v in values), max(v[1] for v in values))
    best_desc = resolve(Operator.BEST, SortOrder.DESC, state)
    assert best_desc is not None and best_desc[0] == max(v[0] for v in values)
    assert best_desc[1] == min(v[1] for v in values if v[0] == best_desc[0])
    best_asc = resolve(Operator.BEST, SortOrder.ASC, state)
    assert best_asc is not None and best_asc[0] == min(v[0] for v in values)
    latest = resolve(Operator.LATEST, SortOrder.DESC, state)
    assert latest is not None and latest[1] == max(v[1] for v in values)
    assert latest[0] == max(v[0] for v in values if v[1] == latest[1])

"""The entry-state CRDT: merge is commutative, associative and idempotent; any delivery order,
duplicates and replays of regional writes give the same state; each operator resolves by its rule
(counters: 0 lost, 0 double-counted; latest: causal order first, the application rule on conflict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st
from podium.replication import vectors as vv
from podium.replication.merge import (
    EntryState,
    RegionalWrite,
    conflict,
    dominates,
    merge,
    resolve,
    state_vector,
    with_write,
)

from podium.model import Operator, SortOrder
from podium.ranking import sort_key

REGIONS = ["ap-south", "eu-west", "us-east"]
regions = st.sampled_from(REGIONS)
write_step = st.tuples(st.just("w"), regions, st.integers(-50, 50), st.integers(0, 40))
sync_step = st.tuples(st.just("s"), regions, regions, st.just(0))
steps = st.lists(st.one_of(write_step, sync_step), max_size=30)


@dataclass
class History:
    """Three regions writing one entry and gossiping states: a causally valid history."""

    counter_board: bool
    local: dict[str, EntryState] = field(default_factory=lambda: {r: {} for r in REGIONS})
    writes: list[RegionalWrite] = field(default_factory=list)
    deltas_total: int = 0

    def run(self, ops: list[tuple[str, str, object, int]]) -> History:
        for kind, a, b, ts in ops:
            if kind == "s":
                self.local[str(b)] = merge(self.local[str(b)], self.local[a])
                continue
            state = self.local[a]
            own = state.get(a)
            value = int(b)  # type: ignore[call-overload]
            if self.counter_board:
                self.deltas_total += value
                value += own.score if own else 0
            w = RegionalWrite(a, value, ts, vv.increment(state_vector(state), a))
            self.local[a] = with_write(state, w)
            self.writes.append(w)
        return self


histories = st.builds(lambda ops, c: History(c).run(ops), steps, st.booleans())
states = histories.map(lambda h: reduce(merge, h.local.values(), {}))


@given(states, states)
def test_merge_commutative(a: EntryState, b: EntryState) -> None:
    assert merge(a, b) == merge(b, a)


@given(states, states, states)
def test_merge_associative(a: EntryState, b: EntryState, c: EntryState) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(states)
def test_merge_idempotent(a: EntryState) -> None:
    assert merge(a, a) == a


@given(histories, st.randoms(use_true_random=False), st.data())
def test_any_order_duplicates_and_replays_converge(h: History, rnd: object, data: st.DataObject) -> None:
    in_order = reduce(with_write, h.writes, {})
    shuffled = list(h.writes) + data.draw(st.lists(st.sampled_from(h.writes), max_size=10)) if h.writes else []
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert reduce(with_write, shuffled, {}) == in_order
    # gossiped states and delivered writes agree
    assert reduce(merge, h.local.values(), {}) == in_order
    for op in Operator:
        assert resolve(op, SortOrder.DESC, in_order) == resolve(op, SortOrder.DESC, reduce(merge, [in_order, in_order], {}))


@given(histories.filter(lambda h: h.counter_board))
def test_counter_sum_neither_loses_nor_double_counts(h: History) -> None:
    state = reduce(with_write, h.writes + h.writes, {})
    got = resolve(Operator.INCREMENT, SortOrder.DESC, state)
    assert (got.score if got else 0) == h.deltas_total


@given(histories, st.sampled_from(list(SortOrder)))
def test_best_is_the_best_regional_value(h: History, order: SortOrder) -> None:
    state = reduce(with_write, h.writes, {})
    got = resolve(Operator.BEST, order, state)
    if not state:
        assert got is None
        return
    best = min(state.values(), key=lambda w: sort_key(w.score, w.achieved_at_ms, w.region, order))
    assert got is not None and (got.score, got.achieved_at_ms, got.region) == (best.score, best.achieved_at_ms, best.region)


@given(histories, st.sampled_from(list(SortOrder)))
def test_latest_winner_is_never_causally_superseded(h: History, order: SortOrder) -> None:
    state = reduce(with_write, h.writes, {})
    got = resolve(Operator.LATEST, order, state)
    if got is None:
        return
    won = state[got.region]  # type: ignore[index]
    assert not any(vv.compare(w.vector, won.vector) is vv.Ordering.AFTER for w in state.values())
    c = conflict(Operator.LATEST, order, state)
    if c is not None:
        assert c.winner == won
        for loser in c.losers:
            assert vv.compare(loser.vector, won.vector) is vv.Ordering.CONCURRENT
            assert won.achieved_at_ms >= loser.achieved_at_ms


def test_latest_follows_causality_over_skewed_clocks() -> None:
    # eu-west writes at t=100; us-east sees it and writes later with a clock 50 ms behind: the
    # causally later write wins although its timestamp is smaller. No conflict is recorded.
    first = RegionalWrite("eu-west", 10, 100, {"eu-west": 1})
    second = RegionalWrite("us-east", 7, 60, {"eu-west": 1, "us-east": 1})
    state = with_write(with_write({}, first), second)
    got = resolve(Operator.LATEST, SortOrder.DESC, state)
    assert got is not None and (got.score, got.region) == (7, "us-east")
    assert conflict(Operator.LATEST, SortOrder.DESC, state) is None


def test_latest_concurrent_writes_use_the_application_rule() -> None:
    a = RegionalWrite("eu-west", 10, 100, {"eu-west": 1})
    b = RegionalWrite("us-east", 30, 100, {"us-east": 1})  # same time: the higher score wins
    c = RegionalWrite("ap-south", 99, 90, {"ap-south": 1})  # earlier: loses whatever its score
    state = reduce(with_write, [a, b, c], {})
    got = resolve(Operator.LATEST, SortOrder.DESC, state)
    assert got is not None and (got.score, got.region) == (30, "us-east")
    rec = conflict(Operator.LATEST, SortOrder.DESC, state)
    assert rec is not None and rec.winner == b and [w.region for w in rec.losers] == ["eu-west", "ap-south"]
    # the record is the same whatever the delivery order, so the log dedupes replays by key
    again = conflict(Operator.LATEST, SortOrder.DESC, reduce(with_write, [c, b, a, b], {}))
    assert again is not None and again.key == rec.key
    # equal time and score: the smaller region id wins
    d = RegionalWrite("ap-south", 30, 100, {"ap-south": 2})
    got = resolve(Operator.LATEST, SortOrder.DESC, with_write(state, d))
    assert got is not None and got.region == "ap-south"


def test_session_token_satisfied_iff_dominated() -> None:
    state = with_write({}, RegionalWrite("eu-west", 1, 1, {"eu-west": 2, "us-east": 1}))
    assert dominates(state, vv.decode(vv.encode({"eu-west": 2})))
    assert not dominates(state, {"eu-west": 3})
    assert not dominates(state, {"ap-south": 1})

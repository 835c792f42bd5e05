"""A coalesced top change is replayed in the order its entries changed (region/notifications/replay.py):
scores that land in one fan-out tick one after the other still pass each other. The race of
test_region_kill9's held-pass test, made deterministic: a, b, c score, then x passes them, and the
fan-out's next tick carries both (`before` without any of them)."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.notifications.replay import replay_steps

from podium.model import RankedEntry, SortOrder
from podium.notify_evaluate import Coalescer, as_board, evaluate
from podium.notify_rules import Rule, RuleKind
from podium.ranking import sort_key

RULE = Rule("o", "b", RuleKind.OVERTAKEN, n=50, near_ranks=0, window_ms=0)
PLAYERS = [f"p{i}" for i in range(8)]


def top_of(scores: dict[str, tuple[int, int]], n: int, order: SortOrder = SortOrder.DESC) -> list[RankedEntry]:
    ranked = sorted(scores, key=lambda p: sort_key(scores[p][0], scores[p][1], p, order))[:n]
    return [RankedEntry(i + 1, p, *scores[p]) for i, p in enumerate(ranked)]


def passes(before: list[RankedEntry], tops: list[list[RankedEntry]], tick: str) -> Counter[tuple[str, str]]:
    co, out, previous = Coalescer(1000, 100), Counter[tuple[str, str]](), before
    for i, top in enumerate(tops):
        for note in evaluate([RULE], as_board(previous), as_board(top), 1_000_000, f"{tick}.{i}", co).notifications:
            out.update((note.player, by) for by in note.by)
        previous = top
    return out


def test_entries_then_a_pass_in_one_tick_notify_the_pass() -> None:
    before: list[RankedEntry] = []
    after = top_of({"a": (10, 1000), "b": (20, 1000), "c": (30, 1000), "x": (100, 1200)}, 51)
    coalesced = passes(before, [after], "t")
    assert coalesced == Counter()          # what the engine evaluated before the replay: the pass lost
    steps = replay_steps(before, after, 51, SortOrder.DESC, 64)
    assert [[e.player for e in s] for s in steps] == [["c", "b", "a"], ["x", "c", "b", "a"]]
    assert passes(before, steps, "t") == Counter({("a", "x"): 1, ("b", "x"): 1, ("c", "x"): 1})


def test_no_split_without_an_order_or_beyond_the_cap() -> None:
    after = top_of({"a": (10, 1000), "x": (100, 1200)}, 51)
    assert replay_steps([], after, 51, None, 64) == [after]
    assert replay_steps([], after, 51, SortOrder.DESC, 1) == [after]


events = st.lists(st.tuples(st.integers(0, len(PLAYERS) - 1), st.integers(1, 40)), max_size=20)


@settings(max_examples=100, deadline=None)
@given(history=events, cuts=st.lists(st.booleans(), min_size=20, max_size=20), n=st.integers(len(PLAYERS), len(PLAYERS) + 2),
       order=st.sampled_from([SortOrder.DESC, SortOrder.ASC]))
def test_replayed_ticks_notify_what_one_change_at_a_time_does(history: list[tuple[int, int]], cuts: list[bool],
                                                               n: int, order: SortOrder) -> None:
    """Oracle: every score change evaluated on its own (one tick each). Grouped into fan-out ticks
    (each player changes at most once per tick: then the replay has all it needs), the replayed
    ticks notify exactly the same passes. Every player fits in the slice: a change that ends below
    it is not in the fan-out's top, so no replay can order it (nor could the coalesced change)."""
    scores: dict[str, tuple[int, int]] = {}
    singles, previous = [top_of(scores, n, order)], top_of(scores, n, order)
    ticks: list[list[RankedEntry]] = [previous]
    in_tick: set[str] = set()
    for at, (i, points) in enumerate(history):
        player = PLAYERS[i]
        if player in in_tick or cuts[at]:       # the fan-out ticks here
            ticks.append(top_of(scores, n, order))
            in_tick = set()
        scores[player] = (scores.get(player, (0, 0))[0] + points, 1000 + at)
        in_tick.add(player)
        singles.append(top_of(scores, n, order))
    ticks.append(top_of(scores, n, order))
    oracle = passes(singles[0], singles[1:], "one")
    replayed: list[list[RankedEntry]] = []
    for before, after in pairwise(ticks):
        replayed.extend(replay_steps(before, after, n, order, 64))
    assert passes(ticks[0], replayed, "tick") == oracle

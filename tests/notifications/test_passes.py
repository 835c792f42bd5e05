"""Counted passes (`overtaken_counts`) against the brute-force enumeration of every pair, on top
slices of boards whose scores rise and fall, with players entering and leaving the slice."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.model import RankedEntry
from podium.notify_evaluate import overtaken_counts
from podium.notify_passes import Passes
from podium.notify_rules import Rule, RuleKind

Board = dict[str, RankedEntry]


def top_slice(scores: dict[str, int], size: int) -> Board:
    """The board's top `size`: higher score first, ties by player id (the total order of a board)."""
    order = sorted(scores, key=lambda p: (-scores[p], p))[:size]
    return {p: RankedEntry(i + 1, p, scores[p], 0) for i, p in enumerate(order)}


def oracle(rule: Rule, before: Board, after: Board) -> tuple[dict[str, list[str]], int]:
    """Every (passed, overtaker) pair in plain words, the overtakers in new-rank order; and the capped count."""
    kept: dict[str, list[str]] = {}
    capped = 0
    for p, a in after.items():
        if p not in before:
            continue
        for q, aq in sorted(after.items(), key=lambda kv: kv[1].rank):
            ahead_before = q in before and before[q].rank < before[p].rank
            if aq.rank >= a.rank or ahead_before:
                continue
            if before[p].rank <= rule.n or abs(before[p].rank - aq.rank) <= rule.near_ranks:
                kept.setdefault(p, []).append(q)
            else:
                capped += 1
    return kept, capped


def named(rule: Rule, passes: Passes, by_max: int) -> tuple[dict[str, tuple[int, list[str]]], int]:
    """The counts, with the overtakers named as a notification names them (the first `by_max`)."""
    counts, capped = overtaken_counts(rule, passes)
    return {p: (c, near[:by_max] if near is not None else passes.head(passes.after[p], by_max))
            for p, c, near in counts}, capped


changes = st.lists(st.tuples(st.integers(0, 29), st.integers(-20, 60)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), moves=changes, size=st.integers(1, 25), n=st.integers(1, 25),
       near=st.integers(0, 6), by_max=st.integers(1, 8))
def test_counted_passes_equal_every_enumerated_pair(seed: int, moves: list[tuple[int, int]], size: int, n: int,
                                                   near: int, by_max: int) -> None:
    rng = random.Random(seed)
    scores = {f"p{i:02d}": rng.randrange(0, 50) for i in range(30)}
    before = top_slice(scores, size)
    for player, delta in moves:             # `latest` boards: scores fall as well as rise
        scores[f"p{player:02d}"] += delta
    after = top_slice(scores, size)
    rule = Rule("o", "b", RuleKind.OVERTAKEN, n=n, near_ranks=near)
    got, capped = named(rule, Passes(before, after), by_max)
    want, want_capped = oracle(rule, before, after)
    assert capped == want_capped
    assert {p: c for p, (c, _) in got.items()} == {p: len(qs) for p, qs in want.items()}
    assert {p: by for p, (_, by) in got.items()} == {p: qs[:by_max] for p, qs in want.items()}


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 20), by_max=st.integers(1, 5))
def test_counts_stay_exact_when_unchanged_entries_reorder(seed: int, size: int, by_max: int) -> None:
    """Entries whose score did not change but whose order did (not a board's total order): the
    movers-only shortcut does not apply, and counts and names are still exact."""
    rng = random.Random(seed)
    players = [f"p{i}" for i in range(size + 5)]
    first = rng.sample(players, size)
    second = rng.sample(players, size)
    before = {p: RankedEntry(i + 1, p, 7, 0) for i, p in enumerate(first)}
    after = {p: RankedEntry(i + 1, p, 7, 0) for i, p in enumerate(second)}
    rule = Rule("o", "b", RuleKind.OVERTAKEN, n=size, near_ranks=0)
    got, capped = named(rule, Passes(before, after), by_max)
    want, _ = oracle(rule, before, after)
    assert capped == 0
    assert {p: c for p, (c, _) in got.items()} == {p: len(qs) for p, qs in want.items()}
    assert {p: by for p, (_, by) in got.items()} == {p: qs[:by_max] for p, qs in want.items()}

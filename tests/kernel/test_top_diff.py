"""diff_top against a naive oracle: applying the diff to the old top gives the new top exactly, and
every reported change is real."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podium.model import RankedEntry
from podium.top_diff import ChangeKind, apply_diff, diff_top

players = st.lists(st.sampled_from([f"p{i}" for i in range(12)]), unique=True, max_size=8)


def ranked(names: list[str], scores: list[int]) -> list[RankedEntry]:
    return [RankedEntry(i + 1, p, scores[i % len(scores)] if scores else 0, 0) for i, p in enumerate(names)]


@given(players, players, st.lists(st.integers(0, 3), min_size=1, max_size=8), st.lists(st.integers(0, 3), min_size=1, max_size=8))
def test_apply_diff_rebuilds_the_new_top(a, b, sa, sb) -> None:  # type: ignore[no-untyped-def]
    before, after = ranked(a, sa), ranked(b, sb)
    changes = diff_top(before, after)
    assert apply_diff(before, changes) == after
    old = {e.player: e for e in before}
    for c in changes:
        if c.kind is ChangeKind.ENTERED:
            assert c.player not in old
        elif c.kind is ChangeKind.LEFT:
            assert c.player not in {e.player for e in after}
        elif c.kind is ChangeKind.MOVED:
            assert old[c.player].rank != c.rank and old[c.player].score == c.score
        else:
            assert old[c.player].score != c.score


def test_no_change_no_diff() -> None:
    top = ranked(["a", "b"], [5, 3])
    assert diff_top(top, list(top)) == []

"""The rebuild's standing rule on plain rows equals `current_standing` (the oracle the rest of the
history tests check against), on every operator and order, ties included; and the union of stored
and backlog rows counts each (time, event id) once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.region.history.rebuild_standings import standing_entry, union_rows
from podium.region.history.store import ScoreRow, current_standing

from podium.model import Board, Operator, SortOrder

# few distinct times, ids and scores: ties on score, on time, and on both
_rows = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", "c", ""]), st.integers(-3, 3)),
                 min_size=1, max_size=8)


@given(rows=_rows, operator=st.sampled_from(list(Operator)), order=st.sampled_from(list(SortOrder)))
def test_standing_entry_equals_current_standing(rows: list[tuple[int, str, int]], operator: Operator,
                                                order: SortOrder) -> None:
    board = Board("b", operator=operator, order=order)
    expected = current_standing(board, [ScoreRow("b@0", "p", e, s, t) for t, e, s in rows])
    assert expected is not None
    assert standing_entry(operator, order, "p", rows) == ("p", expected.score, expected.achieved_at_ms)


@given(stored=_rows, unwritten=_rows)
def test_union_rows_counts_each_key_once(stored: list[tuple[int, str, int]],
                                         unwritten: list[tuple[int, str, int]]) -> None:
    stored = list({(t, e): (t, e, s) for t, e, s in stored}.values())   # the store holds a key once
    got = union_rows(stored, unwritten)
    assert got[: len(stored)] == stored
    keys = [(t, e) for t, e, _ in got]
    assert len(keys) == len(set(keys))
    assert set(keys) == {(t, e) for t, e, _ in stored} | {(t, e) for t, e, _ in unwritten}
    assert union_rows(stored, []) == stored

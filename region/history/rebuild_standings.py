"""A player's standing from their stored rows as plain tuples (`HistoryRow`): what a rebuild
computes once per player of the board, so the rule of `current_standing` without a ScoreRow or a
Standing per player. Tested equal to `current_standing` (tests/history/test_rebuild_standings.py)."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from podium.region.history.store import HistoryRow

from podium.model import Operator, SortOrder

Entry = tuple[str, int, int]   # (player, score, achieved_at_ms): what a rank store loads
_TIME = itemgetter(0)


def _best_desc(row: HistoryRow) -> tuple[int, int]:
    return -row[2], row[0]     # higher score first, then the earlier time


def _best_asc(row: HistoryRow) -> tuple[int, int]:
    return row[2], row[0]


def _latest(row: HistoryRow) -> tuple[int, int]:
    return row[0], row[2]      # the latest time; equal times: the larger score (as apply.lua)


def standing_entry(operator: Operator, order: SortOrder, player: str, rows: Sequence[HistoryRow]) -> Entry:
    """(player, score, achieved_at_ms) of a player with at least one row, per `current_standing`:
    best keeps the best score and its earliest time, latest the latest row, increment/decrement
    the (negated) sum at the latest time. One row (most players): that row."""
    if len(rows) == 1:
        at, _, score = rows[0]
        return player, -score if operator is Operator.DECREMENT else score, at
    if operator is Operator.BEST:
        at, _, score = min(rows, key=_best_desc if order is SortOrder.DESC else _best_asc)
        return player, score, at
    if operator is Operator.LATEST:
        at, _, score = max(rows, key=_latest)
        return player, score, at
    total = sum(row[2] for row in rows)
    return player, -total if operator is Operator.DECREMENT else total, max(map(_TIME, rows))


def union_rows(stored: Sequence[HistoryRow], unwritten: Sequence[HistoryRow]) -> list[HistoryRow]:
    """A player's rows from the warm store and the backlog (accepted, not yet written), each
    (time, event id) once: the store's key."""
    if not unwritten:
        return list(stored)
    seen = {(at, event_id) for at, event_id, _ in stored}
    out = list(stored)
    for row in unwritten:
        key = (row[0], row[1])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out

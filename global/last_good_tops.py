"""Serve-stale for the global tier's EVENTUAL leaderboard reads: the last top each board answered,
held in memory, so while the global Redis fails the pages inside it still answer, labelled
`stale: true` with the asOf of the read that produced them. STRONG reads never come from here (they
must be live), and a page the held top does not wholly contain fails fast (503 + Retry-After).

One entry per board (its live season), the longest top read from rank 1 wins until a newer read
from rank 1 replaces it; at most `boards_max` boards (the least recently read are dropped)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from podium.model import Board, RankedEntry


@dataclass(frozen=True, slots=True)
class HeldTop:
    board: Board
    rows: list[RankedEntry]
    total: int
    as_of_ms: int


class LastGoodTops:
    def __init__(self, boards_max: int) -> None:
        self.boards_max = boards_max
        self._held: OrderedDict[str, HeldTop] = OrderedDict()

    def remember(self, board: Board, offset: int, rows: list[RankedEntry], total: int, as_of_ms: int) -> None:
        """A live read's answer; only a read from rank 1 is kept (the prefix a later page continues)."""
        if offset != 0 or self.boards_max <= 0:
            return
        self._held[board.id] = HeldTop(board, list(rows), total, as_of_ms)
        self._held.move_to_end(board.id)
        while len(self._held) > self.boards_max:
            self._held.popitem(last=False)

    def page(self, board_id: str, offset: int, first: int) -> tuple[HeldTop, list[RankedEntry]] | None:
        """Ranks offset+1..offset+first from the held top, or None when it does not hold them all
        (a short page only where the held top is the whole board)."""
        held = self._held.get(board_id)
        if held is None or (offset + first > len(held.rows) and len(held.rows) < held.total):
            return None
        return held, held.rows[offset:offset + first]

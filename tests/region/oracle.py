"""An exact, independent in-memory model of a board: the oracle every read is checked against."""

from __future__ import annotations

from dataclasses import dataclass, field

from podium.model import SCORE_ABS_MAX, Board, Operator, RankedEntry, ScoreEntry, SortOrder


@dataclass
class OracleBoard:
    board: Board
    entries: dict[str, tuple[int, int]] = field(default_factory=dict)  # player -> (score, ts)
    seen_events: set[str] = field(default_factory=set)

    def _better(self, a: int, b: int) -> bool:
        return a > b if self.board.order is SortOrder.DESC else a < b

    def apply(self, e: ScoreEntry) -> str:
        if e.event_id and e.event_id in self.seen_events:
            return "d"
        old = self.entries.get(e.player)
        op = self.board.operator
        new: tuple[int, int] | None = None
        if op is Operator.BEST:
            if old is None or self._better(e.score, old[0]) or (e.score == old[0] and e.achieved_at_ms < old[1]):
                new = (e.score, e.achieved_at_ms)
        elif op is Operator.LATEST:
            if old is None or e.achieved_at_ms > old[1] or (e.achieved_at_ms == old[1] and e.score > old[0]):
                new = (e.score, e.achieved_at_ms)
        else:
            base = old[0] if old else 0
            total = base + e.score if op is Operator.INCREMENT else base - e.score
            ts = max(old[1], e.achieved_at_ms) if old else e.achieved_at_ms
            if old is None or (total, ts) != old:
                new = (total, ts)
        if new is not None and abs(new[0]) > SCORE_ABS_MAX:
            return "o"
        if e.event_id:
            self.seen_events.add(e.event_id)
        if new is None:
            return "u"
        self.entries[e.player] = new
        return "a"

    def ranking(self) -> list[RankedEntry]:
        sign = -1 if self.board.order is SortOrder.DESC else 1
        ordered = sorted(self.entries.items(), key=lambda kv: (sign * kv[1][0], kv[1][1], kv[0].encode()))
        return [RankedEntry(i + 1, p, s, ts) for i, (p, (s, ts)) in enumerate(ordered)]

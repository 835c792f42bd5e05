"""What changed in a top-n between two ticks (pure): entered, left, moved, score changed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from podium.model import RankedEntry


class ChangeKind(StrEnum):
    ENTERED = "ENTERED"
    LEFT = "LEFT"
    MOVED = "MOVED"
    SCORE_CHANGED = "SCORE_CHANGED"


@dataclass(frozen=True, slots=True)
class TopChange:
    kind: ChangeKind
    player: str
    rank: int | None            # None when the player left the top
    previous_rank: int | None   # None when the player entered
    score: int | None
    previous_score: int | None
    achieved_at_ms: int | None


def diff_top(before: list[RankedEntry], after: list[RankedEntry]) -> list[TopChange]:
    """Changes that turn `before` into `after`, in the order: by new rank, then players who left.
    A player whose rank and score both changed is one SCORE_CHANGED (it carries both ranks)."""
    old = {e.player: e for e in before}
    new = {e.player: e for e in after}
    out: list[TopChange] = []
    for e in after:
        prev = old.get(e.player)
        if prev is None:
            out.append(TopChange(ChangeKind.ENTERED, e.player, e.rank, None, e.score, None, e.achieved_at_ms))
        elif prev.score != e.score or prev.achieved_at_ms != e.achieved_at_ms:
            out.append(TopChange(ChangeKind.SCORE_CHANGED, e.player, e.rank, prev.rank, e.score, prev.score,
                                 e.achieved_at_ms))
        elif prev.rank != e.rank:
            out.append(TopChange(ChangeKind.MOVED, e.player, e.rank, prev.rank, e.score, prev.score, e.achieved_at_ms))
    for e in before:
        if e.player not in new:
            out.append(TopChange(ChangeKind.LEFT, e.player, None, e.rank, None, e.score, None))
    return out


def apply_diff(before: list[RankedEntry], changes: list[TopChange]) -> list[RankedEntry]:
    """Rebuild the new top from the old one and its changes (what a client does)."""
    rows = {e.player: e for e in before}
    for c in changes:
        if c.kind is ChangeKind.LEFT:
            rows.pop(c.player, None)
        else:
            prev = rows.get(c.player)
            assert c.rank is not None
            rows[c.player] = RankedEntry(c.rank, c.player, c.score if c.score is not None else prev.score,  # type: ignore[union-attr]
                                         c.achieved_at_ms if c.achieved_at_ms is not None else prev.achieved_at_ms)  # type: ignore[union-attr]
    # entries not mentioned kept their rank
    return sorted(rows.values(), key=lambda e: e.rank)

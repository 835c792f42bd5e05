"""Who passed whom in one change of a board, counted from rank deltas instead of enumerated.

`q` passes `p` when, after the change, `q` ranks ahead of `p`, and before it `q` was not ahead of
`p` (below it, or not on the board). Enumerating every such pair costs O(slice²) per rule per
tick, and a single high score passes the whole slice. Instead, once per change (shared by every
`overtaken` rule of the board):

- `total(p)`, how many passed `p`, is an inversion count: walking the new order from the top, the
  players already seen whose previous rank was below `p`'s (or who were absent). A sorted list of
  previous ranks answers it with one bisection per player: O(S log S) for the whole slice.
- the overtakers a notification names (the first `by_max` in the new order) come from the movers
  only: two entries whose score and time did not change keep their relative order (the ranking is
  a total order on score, time and player), so an unchanged player can only be passed by a player
  whose entry changed or who is new. For a player whose own entry changed, every player ahead is
  a candidate (a `latest` board's score can fall). The order assumption is checked once per change
  (the unchanged entries' previous ranks rise along the new order); if it does not hold, every
  player ahead is a candidate for everyone: slower, never wrong.
- a rule's cap ("previous rank within the top-n, or within `near_ranks` of the overtaker's new
  rank") needs the overtakers inside a window of 2·near_ranks+1 new ranks: a bisection and a scan
  of that window, not of the slice.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping

from podium.model import RankedEntry

Board = Mapping[str, RankedEntry]


class Passes:
    """The passes of one change `before` -> `after`; query per passed player."""

    def __init__(self, before: Board, after: Board) -> None:
        self.before = before
        self.after = after
        self.order = sorted(after.values(), key=lambda e: e.rank)
        self.ranks = [e.rank for e in self.order]
        self.total: dict[str, int] = {}
        self.movers: list[RankedEntry] = []
        seen: list[float] = []               # previous ranks of the players already walked, sorted
        i = 0
        while i < len(self.order):
            j = i
            while j < len(self.order) and self.order[j].rank == self.order[i].rank:
                j += 1                       # players sharing a new rank do not pass each other
            for e in self.order[i:j]:
                was = before.get(e.player)
                if was is not None:
                    passed = len(seen) - bisect.bisect_left(seen, was.rank)
                    if passed:
                        self.total[e.player] = passed
                if was is None or was.score != e.score or was.achieved_at_ms != e.achieved_at_ms:
                    self.movers.append(e)
            for e in self.order[i:j]:
                was = before.get(e.player)
                bisect.insort(seen, was.rank if was is not None else math.inf)
            i = j
        self.orderly = self._unchanged_keep_their_order()
        self.mover_ranks = [e.rank for e in self.movers]
        self._heads: dict[str, list[str]] = {}

    def _unchanged_keep_their_order(self) -> bool:
        movers = {e.player for e in self.movers}
        previous = [self.before[e.player].rank for e in self.order if e.player not in movers]
        return all(a < b for a, b in itertools.pairwise(previous))

    def _candidates(self, p: RankedEntry) -> tuple[list[RankedEntry], list[int]]:
        if self.orderly and not self._changed(p):
            return self.movers, self.mover_ranks
        return self.order, self.ranks

    def passes(self, p: RankedEntry, q: RankedEntry) -> bool:
        """Whether `q` passed `p` (`p` was on the board before)."""
        if q.rank >= p.rank:
            return False
        was_q = self.before.get(q.player)
        return was_q is None or was_q.rank >= self.before[p.player].rank

    def _changed(self, p: RankedEntry) -> bool:
        was = self.before[p.player]
        return was.score != p.score or was.achieved_at_ms != p.achieved_at_ms

    def head(self, p: RankedEntry, by_max: int) -> list[str]:
        """The first `by_max` players who passed `p`, in new-rank order (cached per player)."""
        cached = self._heads.get(p.player)
        want = min(by_max, self.total.get(p.player, 0))
        if cached is not None and len(cached) >= want:
            return cached[:want]
        out: list[str] = []
        for q in self._candidates(p)[0] if want else ():
            if q.rank >= p.rank or len(out) >= want:
                break
            if self.passes(p, q):
                out.append(q.player)
        self._heads[p.player] = out
        return out

    def near(self, p: RankedEntry, previous_rank: int, near_ranks: int) -> list[str]:
        """Overtakers of `p` whose new rank is within `near_ranks` of `p`'s previous rank, in new-rank order."""
        candidates, ranks = self._candidates(p)
        lo = bisect.bisect_left(ranks, previous_rank - near_ranks)
        hi = bisect.bisect_right(ranks, min(previous_rank + near_ranks, p.rank - 1))
        return [q.player for q in candidates[lo:hi] if self.passes(p, q)]

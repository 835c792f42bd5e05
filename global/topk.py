"""Exact global top-K per board, and the k-way merge behind STRONG reads.

Why the union of regional top-K lists is the exact global top-K for `best` boards: a player's
global value is its best regional value. Let p be in the global top-K with value v from region r.
Every entry above v in region r belongs to another player q whose global best is at least that
regional value, so it is above v globally too; fewer than K entries are above v globally, so
fewer than K are above v in r, and v is in r's top-K. Merging the regional lists (one row per
player, its best) and cutting at K is therefore exact.

`latest` boards: the issue expected the same argument to hold, but it does not. A region can hold
a stale, superseded value of q (q later wrote a lower score in another region) that fills a slot of
that region's top-K and pushes out p, while globally q is far lower. Example, K=1: region A has
q=100 then p=50; region B has q=10 written after A's q=100. Globally p=50 is first, yet p is in
neither region's top-1. So `latest` boards are handled like counter boards below: regions ship
every change and the global tier keeps every entry (the state per region in
`replication.regional_state`). `merge_tops` on `latest` is exact only when the regional lists are complete.

Counter boards (`increment` / `decrement`) are different: a player's global total is the sum of
regional contributions, and a player just outside every region's top-K can have the largest sum.
So regions ship every change of a counter board's entries (not only their top-K) and the global
tier keeps every counter entry's per-region contributions; the top-K is computed from complete
totals. This costs O(players) at the global tier for counter boards only; it is the only way the
global top-K of a counter board is exact.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from podium.invariant import invariant
from podium.model import Operator, SortOrder
from podium.ranking import sort_key


@dataclass(frozen=True, slots=True)
class Row:
    player: str
    score: int
    achieved_at_ms: int


def _key(row: Row, order: SortOrder) -> tuple[int, int, bytes]:
    return sort_key(row.score, row.achieved_at_ms, row.player, order)


def top_k(rows: Iterable[Row], k: int, order: SortOrder) -> list[Row]:
    """The first k rows by the tie rule; one row per player is the caller's contract."""
    invariant(k >= 0, "k is non-negative")
    out = heapq.nsmallest(k, rows, key=lambda r: _key(r, order))
    invariant(len({r.player for r in out}) == len(out), "top_k expects one row per player")
    return out


def _latest_wins(a: Row, b: Row, order: SortOrder) -> bool:
    # Later achievement, then better score (then player id is equal: same player, so any).
    if a.achieved_at_ms != b.achieved_at_ms:
        return a.achieved_at_ms > b.achieved_at_ms
    return _key(a, order) < _key(b, order)


def merge_tops(
    tops: Mapping[str, Sequence[Row]], op: Operator, order: SortOrder, limit: int
) -> list[Row]:
    """STRONG read: merge live regional top lists (each sorted by the tie rule) into one.

    `best`: a k-way merge over the sorted lists, keeping a player's first (best) row, stopping at
    `limit`: O(limit · log regions) when few players repeat. `latest`: a player's row is resolved by
    the latest-writer rule before sorting (exact only over complete lists; see the module docstring). Counter boards have no exact answer from tops (see the
    module docstring): their per-player sum is returned over the rows present, which the caller must
    label as a lower bound of totals of positive contributions.
    """
    invariant(limit >= 0, "limit is non-negative")
    for rows in tops.values():
        keys = [_key(r, order) for r in rows]
        invariant(keys == sorted(keys), "each regional top list is sorted by the tie rule")
    if op is Operator.BEST:
        out: list[Row] = []
        seen: set[str] = set()
        streams = [rows for _, rows in sorted(tops.items())]
        for row in heapq.merge(*streams, key=lambda r: _key(r, order)):
            if row.player in seen:
                continue
            seen.add(row.player)
            out.append(row)
            if len(out) == limit:
                break
        return out
    resolved: dict[str, Row] = {}
    for _, rows in sorted(tops.items()):
        for row in rows:
            cur = resolved.get(row.player)
            if op is Operator.LATEST:
                if cur is None or _latest_wins(row, cur, order):
                    resolved[row.player] = row
            else:
                resolved[row.player] = row if cur is None else Row(
                    row.player, cur.score + row.score, max(cur.achieved_at_ms, row.achieved_at_ms))
    return top_k(resolved.values(), limit, order)

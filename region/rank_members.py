"""The sorted-set members a process last saw for its players, so a rank read that knows the member
reads it with two plain commands (ZSCORE, ZRANK in one MULTI) instead of the read script's player
index lookup (region/rank_store_reads_redis.py `players`).

A member is `<time key><player>` (podium/ranking.py) and each player has at most one member on a
board, so a member that is still in the board's sorted set is the player's entry: a read checks
that in the same transaction (ZSCORE nil: the player moved, was removed or the board was
replaced) and then drops the member here and reads through the script, which names the new one.
Nothing here is trusted without that check, so no write has to reach this map to keep reads exact.

Bounded: at most `entries_max` members (least recently read dropped first); 0 keeps none. Pure:
no I/O."""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence

# The default bound (settings `redis_rank_members_max`): ~300 bytes each, ~15 MB at most.
MEMBERS_MAX_DEFAULT = 50_000


class MemberCache:
    """(sorted-set key, player) -> member, least recently used dropped past `entries_max`."""

    def __init__(self, entries_max: int) -> None:
        if entries_max < 0:
            raise ValueError("entries_max must be at least 0")
        self.entries_max = entries_max
        self._members: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.hits = 0  # reads answered from known members (checked in Redis)
        self.stale = 0  # known members found gone, read again through the script

    def __len__(self) -> int:
        return len(self._members)

    def members(self, zset: str, players: Sequence[str]) -> list[str] | None:
        """The known member of each player, or None unless every one is known."""
        known = self._members
        out = []
        for player in players:
            key = (zset, player)
            member = known.get(key)
            if member is None:
                return None
            known.move_to_end(key)
            out.append(member)
        return out

    def put(self, zset: str, player: str, member: str) -> None:
        if self.entries_max == 0:
            return
        key = (sys.intern(zset), player)  # one copy of a board's key for all its players
        known = self._members
        known[key] = member
        known.move_to_end(key)
        while len(known) > self.entries_max:
            known.popitem(last=False)

    def drop(self, zset: str, player: str) -> None:
        self._members.pop((zset, player), None)

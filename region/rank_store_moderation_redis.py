"""The Redis rank store's moderation: removing and banning players, and the quarantine stream the
stream worker's anti-cheat fills and admins review. Part of `RedisRankStore` (region/rank_store_redis.py)."""

from __future__ import annotations

from typing import Any

from podium.region.rank_store import QuarantinedEntry
from podium.region.rank_store_shared import RedisScriptsBase
from podium.region.rank_store_shared import text as _text

from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import stream_entries, stream_max_before
from podium.store_errors import translate_store_errors


@translate_store_errors("the rank store (Redis)")
class RedisRankModeration(RedisScriptsBase):
    async def remove_player(self, board: Board, player: str) -> bool:
        self._writing(board)
        k = keys_of(board)
        return bool(await self._call(self._remove, [k.zset, k.index, k.changes], [player, self.limits.changes_len_max]))

    async def ban(self, board: Board, player: str) -> None:
        self._writing(board)
        await self.redis.sadd(keys_of(board).banned, player)
        await self.remove_player(board, player)

    async def quarantined(self, board: Board, count: int, before: str | None = None) -> list[QuarantinedEntry]:
        end = stream_max_before(before)
        rows = stream_entries(await self.redis.xrevrange(keys_of(board).quarantine, max=end, count=count)) if end else []
        return [_quarantined(entry_id, fields) for entry_id, fields in rows]

    async def quarantined_entry(self, board: Board, entry_id: str) -> QuarantinedEntry | None:
        """One quarantined entry by its stream id (`entry_id` must be a stream id), or None."""
        rows = stream_entries(await self.redis.xrange(keys_of(board).quarantine, min=entry_id, max=entry_id))
        return _quarantined(rows[0][0], rows[0][1]) if rows else None

    async def drop_quarantined(self, board: Board, entry_id: str) -> None:
        await self.redis.xdel(keys_of(board).quarantine, entry_id)

    async def unban(self, board: Board, player: str) -> bool:
        """Lift a ban (the entry removed by the ban stays removed); whether the player was banned."""
        return bool(await self.redis.srem(keys_of(board).banned, player))

    async def quarantine(self, board: Board, fields: dict[str, str], len_max: int) -> None:
        """Adds an entry the stream worker's anti-cheat held back to the board's quarantine stream."""
        await self.redis.xadd(keys_of(board).quarantine, fields,  # type: ignore[arg-type]
                              maxlen=len_max, approximate=True)


def _quarantined(entry_id: Any, fields: Any) -> QuarantinedEntry:
    f = {_text(a): _text(b) for a, b in (fields or {}).items()}
    return QuarantinedEntry(id=_text(entry_id), player=f.pop("player"), score=int(f.pop("score")),
                            achieved_at_ms=int(f.pop("ts"), 16), event_id=f.pop("event"), reason=f.pop("reason"),
                            detail=f)

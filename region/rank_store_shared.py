"""What the Redis rank store's parts share (region/rank_store_redis.py and the read and moderation
parts it is made of): the state each part reaches through `self`, and reply text decoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podium.region.rank_members import MemberCache

from podium.config import IngestLimits
from podium.model import Board
from podium.redis_client import AnyRedis
from podium.redis_lean import LeanCaller


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisScriptsBase:
    """The client, limits, write hook and registered scripts, set by `RedisRankStore.__init__`."""

    redis: AnyRedis
    limits: IngestLimits
    # Called with a board id before every write this store makes (in-memory tops drop it).
    on_write: Callable[[str], None] | None
    _lean: LeanCaller | None   # the client's lean connection for single-command reads, if it has one
    _members: MemberCache | None   # players' known members for rank reads (region/rank_members.py), if kept
    _after: Any
    _read_players: Any
    _around: Any
    _remove: Any

    def _writing(self, board: Board) -> None:
        if self.on_write is not None:
            self.on_write(board.id)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args)

"""The board registry: boards live in one Redis hash (so every process of a region sees them),
with an in-process cache refreshed at most once per `refresh_ms` (and at once after local changes)."""

from __future__ import annotations

import dataclasses

import orjson

from podium.clock import Clock
from podium.errors import Conflict, NotFound
from podium.model import Board
from podium.redis_client import AnyRedis
from podium.region.keys import BOARDS_KEY

REFRESH_MS = 1000
MISS_REFRESH_MS = 100


class BoardRegistry:
    def __init__(self, redis: AnyRedis, clock: Clock, refresh_ms: int = REFRESH_MS) -> None:
        self.redis = redis
        self.clock = clock
        self.refresh_ms = refresh_ms
        self._boards: dict[str, Board] = {}
        self._loaded_at = -1.0

    async def refresh(self) -> dict[str, Board]:
        raw = await self.redis.hgetall(BOARDS_KEY)
        self._boards = {k.decode(): Board.from_dict(orjson.loads(v)) for k, v in raw.items()}
        self._loaded_at = self.clock.monotonic()
        return self._boards

    async def all(self) -> dict[str, Board]:
        if self._loaded_at < 0 or (self.clock.monotonic() - self._loaded_at) * 1000 >= self.refresh_ms:
            await self.refresh()
        return self._boards

    async def get(self, board_id: str) -> Board | None:
        boards = await self.all()
        board = boards.get(board_id)
        if board is None and (self.clock.monotonic() - self._loaded_at) * 1000 >= MISS_REFRESH_MS:
            # another process may have just created it; unknown ids refresh at most every 100 ms
            board = (await self.refresh()).get(board_id)
        return board

    async def require(self, board_id: str) -> Board:
        board = await self.get(board_id)
        if board is None:
            raise NotFound(f"unknown board {board_id[:64]!r}")
        return board

    async def create(self, board: Board, *, exist_ok: bool = False) -> Board:
        created = await self.redis.hsetnx(BOARDS_KEY, board.id, orjson.dumps(board.to_dict()))
        if not created:
            if exist_ok:
                await self.refresh()
                return self._boards[board.id]
            raise Conflict(f"board {board.id!r} already exists")
        await self.refresh()
        return board

    async def update(self, board: Board) -> Board:
        if not await self.redis.hexists(BOARDS_KEY, board.id):
            raise NotFound(f"unknown board {board.id!r}")
        await self.redis.hset(BOARDS_KEY, board.id, orjson.dumps(board.to_dict()))
        await self.refresh()
        return board

    async def next_season(self, board_id: str) -> Board:
        board = await self.require(board_id)
        return await self.update(dataclasses.replace(board, season=board.season + 1))

    async def delete(self, board_id: str) -> None:
        if not await self.redis.hdel(BOARDS_KEY, board_id):
            raise NotFound(f"unknown board {board_id!r}")
        await self.refresh()

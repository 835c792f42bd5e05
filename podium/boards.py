"""The board registry: boards live in one Redis hash (so every process of a region sees them),
with an in-process cache refreshed at most once per `refresh_ms` (and at once after local changes).
The same refresh reads which boards are being rebuilt (`podium:rebuilding`, see `region.recovery`),
so every process learns of a rebuild within `refresh_ms`."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import orjson

from podium.clock import Clock
from podium.errors import Conflict, NotFound
from podium.keys import BOARDS_KEY, REBUILDING_KEY
from podium.model import Board
from podium.redis_client import AnyRedis, as_bytes, as_text
from podium.store_errors import translate_store_errors

REFRESH_MS = 1000
MISS_REFRESH_MS = 100


@translate_store_errors("the board registry (Redis)")
class BoardRegistry:
    def __init__(self, redis: AnyRedis, clock: Clock, refresh_ms: int = REFRESH_MS) -> None:
        self.redis = redis
        self.clock = clock
        self.refresh_ms = refresh_ms
        self._boards: dict[str, Board] = {}
        self._rebuilding: dict[str, int] = {}   # board id -> lease deadline (ms)
        self._loaded_at = -1.0
        # Called after this process created (board), updated (board) or deleted (None) a board:
        # the service keeps the warm store's copy of the definitions in step.
        self.on_change: Callable[[str, Board | None], Awaitable[None]] | None = None
        self._expiry_refresh: asyncio.Future[dict[str, Board]] | None = None

    async def refresh(self) -> dict[str, Board]:
        raw = await self.redis.hgetall(BOARDS_KEY)
        leases = await self.redis.hgetall(REBUILDING_KEY)
        self._boards = {as_text(k): Board.from_dict(orjson.loads(v)) for k, v in raw.items()}
        self._rebuilding = {as_text(k): int(as_bytes(v).split(b":", 1)[0]) for k, v in leases.items()}
        self._loaded_at = self.clock.monotonic()
        return self._boards

    def rebuilding(self, board_id: str) -> bool:
        """Whether a rebuild holds the board (as of the last refresh, at most `refresh_ms` ago)."""
        deadline = self._rebuilding.get(board_id)
        return deadline is not None and deadline > self.clock.now_ms()

    def cached(self) -> dict[str, Board]:
        """The boards as of the last refresh, without I/O (for synchronous callers)."""
        return self._boards

    async def all(self) -> dict[str, Board]:
        if self._loaded_at < 0 or (self.clock.monotonic() - self._loaded_at) * 1000 >= self.refresh_ms:
            await self._refresh_once()
        return self._boards

    async def _refresh_once(self) -> dict[str, Board]:
        """A refresh for an expired cache, shared by every caller that finds it expired meanwhile:
        a burst of thousands of requests (a websocket connect storm) costs one read, not one each
        (which exhausted the Redis pool). Explicit `refresh()` calls (after a change) stay direct."""
        if self._expiry_refresh is None:
            self._expiry_refresh = asyncio.ensure_future(self.refresh())
            self._expiry_refresh.add_done_callback(self._refreshed)
        return await asyncio.shield(self._expiry_refresh)

    def _refreshed(self, done: asyncio.Future[dict[str, Board]]) -> None:
        if self._expiry_refresh is done:
            self._expiry_refresh = None
        if not done.cancelled():
            done.exception()    # retrieved here: every waiter re-raises it; none is left unobserved

    async def get(self, board_id: str) -> Board | None:
        boards = await self.all()
        board = boards.get(board_id)
        if board is None and (self.clock.monotonic() - self._loaded_at) * 1000 >= MISS_REFRESH_MS:
            # another process may have just created it; unknown ids refresh at most every 100 ms
            board = (await self._refresh_once()).get(board_id)
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
        await self._changed(board.id, board)
        return board

    async def restore(self, board: Board) -> bool:
        """Puts back a definition kept elsewhere (the warm store) if Redis lost it; never overwrites."""
        return bool(await self.redis.hsetnx(BOARDS_KEY, board.id, orjson.dumps(board.to_dict())))

    async def _changed(self, board_id: str, board: Board | None) -> None:
        if self.on_change is not None:
            await self.on_change(board_id, board)

    async def update(self, board: Board) -> Board:
        if not await self.redis.hexists(BOARDS_KEY, board.id):
            raise NotFound(f"unknown board {board.id!r}")
        await self.redis.hset(BOARDS_KEY, board.id, orjson.dumps(board.to_dict()))
        await self.refresh()
        await self._changed(board.id, board)
        return board

    async def next_season(self, board_id: str) -> Board:
        board = await self.require(board_id)
        return await self.update(dataclasses.replace(board, season=board.season + 1, season_ends_at_ms=None))

    async def delete(self, board_id: str) -> None:
        if not await self.redis.hdel(BOARDS_KEY, board_id):
            raise NotFound(f"unknown board {board_id!r}")
        await self.refresh()
        await self._changed(board_id, None)

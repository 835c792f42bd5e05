"""Admin writes of a region, each checked by the same rules in one place.

Every write that touches an existing board's entries (reset, delete, ban) is refused with
REBUILDING while that board is rebuilt from the warm store: the rebuild swaps in a whole board, so a
write made meanwhile would be lost or resurrected. Operator and order never change on a live board.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from podium.region.rank_store import RankStore

from podium.boards import BoardRegistry
from podium.errors import BadUserInput, Rebuilding
from podium.model import Board


@dataclass(frozen=True, slots=True)
class BoardAdmin:
    boards: BoardRegistry
    store: RankStore
    reset: Callable[[str], Awaitable[Board]]   # starts a new season (archiving the old one first)

    async def _writable(self, board_id: str) -> Board:
        board = await self.boards.require(board_id)
        if self.boards.rebuilding(board_id):
            raise Rebuilding(board_id)
        return board

    async def create_board(self, board: Board) -> Board:
        return await self.boards.create(board)

    async def update_board(self, board: Board) -> Board:
        """New rules for a live board; its season is kept."""
        current = await self.boards.require(board.id)
        if board.operator != current.operator or board.order != current.order:
            raise BadUserInput("operator and order cannot change on a live board: reset it or create a new one")
        return await self.boards.update(replace(board, season=current.season))

    async def delete_board(self, board_id: str) -> None:
        await self._writable(board_id)
        await self.boards.delete(board_id)

    async def reset_board(self, board_id: str) -> Board:
        await self._writable(board_id)
        return await self.reset(board_id)

    async def delete_player(self, board_id: str, player: str) -> bool:
        return bool(await self.store.remove_player(await self._writable(board_id), player))

    async def ban_player(self, board_id: str, player: str) -> None:
        await self.store.ban(await self._writable(board_id), player)

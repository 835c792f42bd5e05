"""Admin writes of a region, each checked by the same rules in one place.

Every write that touches an existing board's entries (reset, delete, ban, unban, score edit,
approving a quarantined entry) is refused with
REBUILDING while that board is rebuilt from the warm store: the rebuild swaps in a whole board, so a
write made meanwhile would be lost or resurrected. Operator and order never change on a live board.

A score edit sets a player's entry to an exact value whatever the board's operator: it is applied
through the same Lua apply as every score (so the change stream, the history backlog and the
subscriptions see it) as a `latest` write stamped after the entry's own time, so it always wins.
The reason is required and lands in the audit log with the mutation's arguments.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from podium.region import quarantine_review
from podium.region.history.store import Snapshot
from podium.region.ingest import apply_entries
from podium.region.rank_store import QuarantinedEntry, RankStore

from podium.boards import BoardRegistry
from podium.errors import BadUserInput, Rebuilding, Unavailable
from podium.model import Board, EntryResult, EntryStatus, Operator, ScoreEntry

EDIT_REASON_CHARS_MAX = 500
EDIT_EVENT_PREFIX = "admin-edit~"   # event ids of score edits: never a game server's (they are unique)


@dataclass(frozen=True, slots=True)
class BoardAdmin:
    boards: BoardRegistry
    store: RankStore
    reset: Callable[[str], Awaitable[Board]]   # starts a new season (archiving the old one first)
    snapshot: Callable[[str], Awaitable[Snapshot]] | None = None   # None: history disabled

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

    async def snapshot_now(self, board_id: str) -> Snapshot:
        """The board's live standings stored in the warm store now."""
        await self.boards.require(board_id)
        if self.snapshot is None:
            raise Unavailable("history is disabled in this region")
        return await self.snapshot(board_id)

    async def delete_player(self, board_id: str, player: str) -> bool:
        return bool(await self.store.remove_player(await self._writable(board_id), player))

    async def ban_player(self, board_id: str, player: str) -> None:
        await self.store.ban(await self._writable(board_id), player)

    async def unban_player(self, board_id: str, player: str) -> bool:
        """Lift a ban (the entry the ban removed stays removed)."""
        return await quarantine_review.unban(self.store, await self._writable(board_id), player)

    async def approve_quarantined(self, board_id: str, entry_id: str, now_ms: int,
                                  region: str | None = None) -> tuple[str, int | None]:
        """Apply a quarantined entry without the delta check; (status, rank) of the apply."""
        return await quarantine_review.approve(self.store, await self._writable(board_id), entry_id, now_ms, region)

    async def reject_quarantined(self, board_id: str, entry_id: str) -> QuarantinedEntry:
        """Drop a quarantined entry (nothing is applied: allowed during a rebuild)."""
        return await quarantine_review.reject(self.store, await self.boards.require(board_id), entry_id)

    async def edit_score(self, board_id: str, player: str, score: int, reason: str, now_ms: int,
                         region: str | None = None) -> EntryResult:
        """Set `player`'s entry on `board_id` to exactly `score` (a banned player stays banned)."""
        if not reason.strip():
            raise BadUserInput("a score edit needs a reason", field="reason")
        if len(reason) > EDIT_REASON_CHARS_MAX:
            raise BadUserInput(f"reason must be at most {EDIT_REASON_CHARS_MAX} characters", field="reason")
        if not player or len(player) > 128:
            raise BadUserInput("player must be 1 to 128 characters", field="player")
        board = await self._writable(board_id)
        if (board.score_min is not None and score < board.score_min) or (
                board.score_max is not None and score > board.score_max):
            raise BadUserInput(f"score must be within the board's limits [{board.score_min}, {board.score_max}]",
                               field="score")
        [current] = await self.store.players(board, [player])
        # after the entry's own time: a `latest` write with a later time always replaces it
        at_ms = max(now_ms, current.achieved_at_ms + 1) if current is not None else now_ms
        as_set = replace(board, operator=Operator.LATEST, max_delta_per_minute=None)
        entry = ScoreEntry(board.id, player, score, at_ms, f"{EDIT_EVENT_PREFIX}{at_ms}~{secrets.token_hex(4)}")
        results = await apply_entries(self.store, {board.id: as_set}, [(0, entry)], at_ms, region=region)
        result = (results or {}).get(0)
        return result if result is not None else EntryResult(0, EntryStatus.UNCHANGED)

"""Season resets and snapshots on demand, with the warm store when history is on: a reset archives
the final standings first (a failed archive leaves the board as it was); a snapshot stores the live
standings now. The admin front (region/admin.py) calls these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from podium.region.history.store import HistoryStore, Snapshot
from podium.region.snapshots import archive_season, take_snapshot

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.errors import Unavailable
from podium.model import Board, RankedEntry

StandingsReader = Callable[[str], Awaitable[tuple[int, list[RankedEntry]]]]


@dataclass(frozen=True, slots=True)
class Seasons:
    boards: BoardRegistry
    history: HistoryStore | None      # None: history disabled (a reset archives nothing)
    standings: StandingsReader        # RegionReads.standings
    clock: Clock
    export_dir: Path                  # where the JSONL.gz exports go

    async def reset(self, board_id: str) -> Board:
        """A new season; with history on, the final standings are archived first."""
        if self.history is None:
            return await self.boards.next_season(board_id)

        async def next_season(b: str) -> None:
            await self.boards.next_season(b)

        await archive_season(self.history, self.standings, board_id, self.clock.now_ms(), self.export_dir, next_season)
        return await self.boards.require(board_id)

    async def snapshot_now(self, board_id: str) -> Snapshot:
        if self.history is None:
            raise Unavailable("history is disabled in this region")
        snapshot, _path = await take_snapshot(self.history, self.standings, board_id, self.clock.now_ms(),
                                              self.export_dir)
        return snapshot

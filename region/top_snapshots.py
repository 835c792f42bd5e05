"""Top-N from memory: each process keeps the top `api.top_snapshot_entries` of its hot boards and
serves top-N reads and early pages from it, without a Redis call per request.

A board becomes hot when it is read, and stays hot while it is among the `api.top_snapshot_boards_max`
most recently read (LRU). Every tick (`api.tick_ms`) one version read per hot board says whether it
changed (the same version the subscription fan-out reads: the newest change-stream id and the
season); a changed board is re-read (top-N and count), an unchanged one is confirmed. `asOf` is
when the snapshot was last known current, so it is at most about one tick old. Writes made by this
process (the rank store's `on_write`) drop the board's snapshot at once, so a client that wrote
through this process reads its own write."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from podium.clock import Clock
from podium.model import Board, RankedEntry
from podium.ticker import run_ticks

log = logging.getLogger("podium.region.top")

RangeReader = Callable[[Board, int], Awaitable[tuple[list[RankedEntry], int]]]   # (board, n) -> rows, count
VersionReader = Callable[[list[str]], Awaitable[dict[str, str]]]


@dataclass
class TopSnapshot:
    board: Board
    version: str | None
    rows: list[RankedEntry]
    total: int
    as_of_ms: int


class TopSnapshots:
    def __init__(self, read_top: RangeReader, read_versions: VersionReader, clock: Clock, *,
                 entries: int, boards_max: int) -> None:
        self.read_top = read_top
        self.read_versions = read_versions
        self.clock = clock
        self.entries = entries
        self.boards_max = boards_max
        self.snapshots: OrderedDict[tuple[str, int], TopSnapshot] = OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Future[TopSnapshot]] = {}
        self._dropped: set[tuple[str, int]] = set()   # loads under way that a local write made stale
        self.loads = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0 and self.boards_max > 0

    def covers(self, first: int) -> bool:
        return self.enabled and first <= self.entries

    async def top(self, board: Board, first: int) -> TopSnapshot:
        """The board's snapshot (loaded on first read; concurrent first reads share one load)."""
        key = (board.id, board.season)
        snapshot = self.snapshots.get(key)
        if snapshot is not None:
            self.snapshots.move_to_end(key)
            return snapshot
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TopSnapshot] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            version = (await self.read_versions([board.id])).get(board.id)
            rows, total = await self.read_top(board, self.entries)
            self.loads += 1
            snapshot = TopSnapshot(board, version, rows, total, self.clock.now_ms())
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(snapshot)
        if key in self._dropped:
            self._dropped.discard(key)
        else:
            self.snapshots[key] = snapshot
            while len(self.snapshots) > self.boards_max:
                self.snapshots.popitem(last=False)
        return snapshot

    def drop(self, board_id: str) -> None:
        """This process wrote to the board: the next read loads it again."""
        for key in [k for k in self.snapshots if k[0] == board_id]:
            del self.snapshots[key]
        # a load under way may have read before the write: do not keep its result
        self._dropped.update(k for k in self._loading if k[0] == board_id)

    async def refresh(self) -> None:
        """One tick: confirm unchanged boards, re-read changed ones."""
        if not self.snapshots:
            return
        keys = list(self.snapshots)
        versions = await self.read_versions(sorted({board_id for board_id, _ in keys}))
        now = self.clock.now_ms()
        for key in keys:
            snapshot = self.snapshots.get(key)
            if snapshot is None:
                continue
            version = versions.get(key[0])
            if version is None or not version.startswith(f"{key[1]}:"):
                del self.snapshots[key]           # deleted, or a new season: read afresh when asked
                continue
            if version == snapshot.version:
                snapshot.as_of_ms = now
                continue
            rows, total = await self.read_top(snapshot.board, self.entries)
            self.loads += 1
            if key in self.snapshots and self.snapshots[key] is snapshot:
                self.snapshots[key] = TopSnapshot(snapshot.board, version, rows, total, now)

    async def run(self, stop: asyncio.Event, tick_ms: int) -> None:
        """The tick: every `tick_ms`; a failed refresh is logged and the next one tries again."""
        await run_ticks(self.refresh, tick_ms, self.clock, stop, log, "top snapshot")

"""The region's view of its history backlog, wherever the writer runs (`history.writer_placement`).

With the writer in process, the region also drains the backlog itself (`HistoryWriter`, a thread of
SQLite inserts next to the event loop). With `separate`, `podium history-writer` drains it in its own
process and the region only watches: every `history.backlog_check_ms` it reads the backlog's length
and the age of its oldest entry (one pipelined XLEN + XRANGE per board), for `/readyz`, the
`podium_history_backlog_entries` / `podium_history_backlog_age` gauges, and for a rebuild's
flush, which then waits for the other process to empty the backlog.

Why a separate process: the writer's SQLite inserts held the GIL for most of the region's samples at
low load (57% in py-spy), so the event loop waited behind them and the acknowledgement's p99 with it.
Nothing acknowledged depends on where it runs: apply.lua adds the rows to the backlog in the same
atomic call that ranks them, and an entry leaves the backlog only after the warm store took it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from podium.region.history.backlog_redis import RedisHistoryBacklog

from podium.clock import Clock
from podium.errors import Unavailable
from podium.model import Board
from podium.tasks import Supervisor

FLUSH_POLL_S = 0.05
LOOP_NAME = "history-backlog-watch"


class HistoryBacklogMonitor:
    def __init__(self, backlog: RedisHistoryBacklog, boards: Callable[[], Awaitable[Iterable[Board]]],
                 clock: Clock, *, placement: str, check_ms: int) -> None:
        if check_ms <= 0:
            raise ValueError("history.backlog_check_ms must be positive")
        self.backlog = backlog
        self.boards = boards
        self.clock = clock
        self.placement = placement
        self.check_ms = check_ms
        self.entries = 0                 # as of the last check
        self.oldest_ms: int | None = None
        self.checked_ms: int | None = None
        self._stop = asyncio.Event()

    @property
    def age_ms(self) -> int:
        """How long the oldest entry has waited for the warm store (0: empty), as of the last check."""
        if self.oldest_ms is None or self.checked_ms is None:
            return 0
        return max(0, self.checked_ms - self.oldest_ms)

    async def check(self) -> int:
        """Reads the backlog's length and oldest entry now; returns the length."""
        self.entries, self.oldest_ms = await self.backlog.depth(await self.boards())
        self.checked_ms = self.clock.now_ms()
        return self.entries

    def start(self, supervisor: Supervisor) -> None:
        supervisor.supervise(LOOP_NAME, self._run)

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.check()   # Redis down: the loop fails, the supervisor retries it with backoff
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.check_ms / 1000)

    def stop(self) -> None:
        self._stop.set()

    async def flush(self, timeout_s: float) -> bool:
        """Waits until the backlog is empty (whoever drains it); False if `timeout_s` passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                if not await self.check():
                    return True
            except Unavailable:
                pass
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(FLUSH_POLL_S)

    def report(self) -> dict[str, Any]:
        """For /readyz: where the writer runs and how far behind the warm store is."""
        return {"writer_placement": self.placement, "entries": self.entries, "oldest_age_ms": self.age_ms,
                "checked_at_ms": self.checked_ms}

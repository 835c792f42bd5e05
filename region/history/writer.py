"""The history writer: drains the history backlog (Redis streams filled by the score apply itself,
see `backlog_redis.py`) into the warm store, off the acknowledgement path.

Durability: `podium/lua/apply.lua` adds the accepted entries to the board's backlog stream in the
same atomic call that ranks them, so an acknowledged score is in Redis (with its AOF) before the
client hears of it. An entry leaves the backlog only after the warm store took its rows
(XREADGROUP, write, XACK + XDEL); a process killed in between leaves it pending, and a writer
takes it over after `backlog_claim_idle_ms`. Rows are idempotent in the store (the event id is in
the key), so a row written twice changes nothing. Nothing is ever dropped: a full backlog refuses
new batches (503) instead.

Why asynchronous and not an inline warm-store write after the apply (measured with `python
benchmarks/history_bench.py --ingest`, docs/history.md): inline SQLite writes cost 0.65× of the
ingest rate and put the warm store on the acknowledgement path (a failing store would fail
submissions; the Cassandra test server would hold each 1000-entry batch ~0.5 s).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from podium.region.history.backlog_redis import BacklogEntry, RedisHistoryBacklog
from podium.region.history.store import HistoryStore

from podium.breaker import Breakers
from podium.errors import Unavailable
from podium.invariant import invariant
from podium.model import Board
from podium.tasks import Supervisor, cancel_and_wait

log = logging.getLogger("podium.history")
FLUSH_POLL_S = 0.02


class HistorySink(Protocol):
    """What waits for accepted scores to reach the warm store (rebuilds, shutdown)."""

    async def flush(self, timeout_s: float) -> bool:
        """Waits until the backlog is empty; False if `timeout_s` passed first."""
        ...


class WriterState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(slots=True)
class WriterStats:
    written: int = 0          # rows written to the warm store by this process
    failures: int = 0
    last_error: str | None = None


class HistoryWriter:
    def __init__(self, store: HistoryStore, backlog: RedisHistoryBacklog,
                 boards: Callable[[], Awaitable[Iterable[Board]]], *, batch_entries_max: int, poll_ms: int,
                 retry_ms_max: int, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 breakers: Breakers | None = None) -> None:
        if batch_entries_max <= 0 or poll_ms <= 0 or retry_ms_max <= 0:
            raise ValueError("history write limits must be positive")
        self.store = store
        self.backlog = backlog
        self.boards = boards
        self.batch_entries_max = batch_entries_max
        self.poll_ms = poll_ms
        self.retry_ms_max = retry_ms_max
        self.sleep = sleep
        # the warm store's breaker ("warm-store"): its state in /readyz and podium_circuit_state;
        # writes are not timed by it (the drivers have their own timeouts; a batch may be slow)
        self.breakers = breakers
        self.state = WriterState.NEW
        self.stats = WriterStats()
        self.backlog_size = 0     # as of the last flush/size check (the gauge)
        self._task: asyncio.Task[None] | None = None
        self._unwritten: dict[str, list[BacklogEntry]] = {}

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Starts the drain loop (under `supervisor` when given: restarted if it ever fails)."""
        invariant(self.state is WriterState.NEW, f"start in state {self.state}")
        self.state = WriterState.RUNNING
        if supervisor is not None:
            self._task = supervisor.supervise("history-writer", self._run)
        else:
            self._task = asyncio.create_task(self._run(), name="history-writer")

    async def drain_once(self) -> int:
        """One round over every board: writes at most one read of its backlog. Returns rows written."""
        written = 0
        for board in await self.boards():
            # Entries whose write failed are pending under this consumer (XREADGROUP will not hand
            # them out again): they are retried from here first.
            entries = self._unwritten.pop(board.id, None) or await self.backlog.read(board, self.batch_entries_max)
            if not entries:
                continue
            rows = [row for entry in entries for row in entry.rows]
            try:
                if self.breakers is None:
                    await self.store.append_scores(rows)
                else:
                    await self.breakers.call("warm-store", functools.partial(self.store.append_scores, rows),
                                             timeout_ms=0)
                await self.backlog.ack(board, [e.entry_id for e in entries])
            except BaseException:
                self._unwritten[board.id] = entries
                raise
            self.stats.written += len(rows)
            written += len(rows)
        return written

    async def _run(self) -> None:
        backoff_ms = 50
        while True:
            try:
                written = await self.drain_once()
            except Unavailable as exc:   # the warm store or Redis is down: the rows wait in the backlog
                if self.state is WriterState.STOPPING:
                    raise asyncio.CancelledError from exc   # a cancel a driver turned into an error: stop
                self.stats.failures += 1
                self.stats.last_error = exc.message
                log.warning("history write failed (%s); retrying in %d ms", exc.message, backoff_ms)
                await self.sleep(backoff_ms / 1000)
                backoff_ms = min(2 * backoff_ms, self.retry_ms_max)
                continue
            backoff_ms = 50
            if not written:
                await self.sleep(self.poll_ms / 1000)

    async def size(self) -> int:
        self.backlog_size = await self.backlog.size(await self.boards())
        return self.backlog_size

    async def flush(self, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while await self.size():
            if self.state is not WriterState.RUNNING or loop.time() >= deadline:
                return False
            await asyncio.sleep(FLUSH_POLL_S)
        return True

    async def close(self, drain_s_max: float) -> None:
        """Drains the backlog (at most `drain_s_max`), then stops; what is left stays in Redis for
        the next writer."""
        if self.state is not WriterState.RUNNING:
            self.state = WriterState.STOPPED
            return
        try:
            drained = await self.flush(drain_s_max)
        except Unavailable:
            drained = False
        self.state = WriterState.STOPPING
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if not drained:
            log.warning("history backlog not drained within %.1f s of shutdown; it stays in Redis", drain_s_max)
        self.state = WriterState.STOPPED


_: type[HistorySink] = HistoryWriter

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
from podium.region.history.store import HistoryStore, ScoreRow

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


@dataclass(slots=True)
class _Page:
    """One backlog read on its way to the store: acknowledged only once the store took all of it."""

    board: Board
    entries: list[BacklogEntry]
    rows: int


class HistoryWriter:
    """Drains the backlog as a pipeline: up to `pages_in_flight_max` pages (one backlog read of up to
    `batch_entries_max` entries each) are being written at once, so the next page is read,
    decoded and encoded while the store writes the previous ones, instead of the store waiting
    for each (on the loaded 2-core bench machine this showed no gain: there the rate follows the
    CPU per row, docs/history.md). Pages finished together are acknowledged together (one XACK +
    XDEL per board). A page is acknowledged only after the store took all its rows, whatever the order
    pages finish in; a failed page stays pending and is retried first."""

    def __init__(self, store: HistoryStore, backlog: RedisHistoryBacklog,
                 boards: Callable[[], Awaitable[Iterable[Board]]], *, batch_entries_max: int, poll_ms: int,
                 retry_ms_max: int, pages_in_flight_max: int = 1,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 breakers: Breakers | None = None) -> None:
        if batch_entries_max <= 0 or poll_ms <= 0 or retry_ms_max <= 0 or pages_in_flight_max <= 0:
            raise ValueError("history write limits must be positive")
        self.store = store
        self.backlog = backlog
        self.boards = boards
        self.batch_entries_max = batch_entries_max
        self.pages_in_flight_max = pages_in_flight_max
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
        self._writing: dict[asyncio.Task[None], _Page] = {}
        # pages whose write failed: pending under this consumer (XREADGROUP will not hand them out
        # again), so they are retried from here first
        self._unwritten: dict[str, list[_Page]] = {}
        self._held: set[str] = set()   # entry ids being written or waiting for a retry here

    @property
    def pages_in_flight(self) -> int:
        return len(self._writing)

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Starts the drain loop (under `supervisor` when given: restarted if it ever fails)."""
        invariant(self.state is WriterState.NEW, f"start in state {self.state}")
        self.state = WriterState.RUNNING
        if supervisor is not None:
            self._task = supervisor.supervise("history-writer", self._run)
        else:
            self._task = asyncio.create_task(self._run(), name="history-writer")

    async def drain_once(self) -> int:
        """One step: starts pages until `pages_in_flight_max` are being written or no board has more,
        then waits until at least one write ends and acknowledges every ended page. Returns the rows
        written by the step; 0 with nothing in flight means the backlog is empty."""
        try:
            await self._fill()
        except Unavailable as exc:
            self._failed(exc)
            raise
        if not self._writing:
            return 0
        done, _ = await asyncio.wait(self._writing, return_when=asyncio.FIRST_COMPLETED)
        return await self._settle(done)

    async def _fill(self) -> None:
        # One page per board per pass (failed pages first); a board whose read came back full may
        # have more and takes part in the next pass.
        boards = list(await self.boards())
        while boards and len(self._writing) < self.pages_in_flight_max:
            more = []
            for board in boards:
                if len(self._writing) >= self.pages_in_flight_max:
                    break
                retry = self._unwritten.get(board.id)
                if retry:
                    self._begin(retry.pop(0))
                    more.append(board)
                    continue
                entries = await self.backlog.read(board, self.batch_entries_max)
                full = len(entries) >= self.batch_entries_max
                # XAUTOCLAIM hands back this writer's own entries whose write outlasted the claim
                # idle time: they are already on their way
                entries = [e for e in entries if e.entry_id not in self._held]
                if entries:
                    self._begin(_Page(board, entries, sum(len(e.rows) for e in entries)))
                if full:
                    more.append(board)
            boards = more

    def _begin(self, page: _Page) -> None:
        rows = [row for entry in page.entries for row in entry.rows]
        self._held.update(e.entry_id for e in page.entries)
        self._writing[asyncio.create_task(self._write(rows))] = page

    async def _write(self, rows: list[ScoreRow]) -> None:
        if self.breakers is None:
            await self.store.append_scores(rows)
        else:
            await self.breakers.call("warm-store", functools.partial(self.store.append_scores, rows), timeout_ms=0)

    def _failed(self, error: BaseException) -> None:
        """Counts a failed write, read or acknowledgement (the store or Redis down)."""
        if isinstance(error, Unavailable):
            self.stats.failures += 1
            self.stats.last_error = error.message

    def _keep(self, page: _Page) -> None:
        self._unwritten.setdefault(page.board.id, []).append(page)

    async def _settle(self, done: Iterable[asyncio.Task[None]]) -> int:
        """Acknowledges the written pages among `done` (one call per board) and keeps the failed
        ones for a retry; raises the first failure once the rest is acknowledged."""
        written: dict[str, list[_Page]] = {}
        failure: BaseException | None = None
        for task in done:
            page = self._writing.pop(task)
            error = asyncio.CancelledError() if task.cancelled() else task.exception()
            if error is None:
                written.setdefault(page.board.id, []).append(page)
            else:
                self._keep(page)
                self._failed(error)
                failure = failure or error
        rows = 0
        for pages in written.values():
            try:
                await self.backlog.ack(pages[0].board, [e.entry_id for p in pages for e in p.entries])
            except BaseException as exc:
                for page in pages:   # written but not acknowledged: written again (idempotent)
                    self._keep(page)
                self._failed(exc)
                raise
            for page in pages:
                self._held.difference_update(e.entry_id for e in page.entries)
                rows += page.rows
        self.stats.written += rows
        if failure is not None:
            raise failure
        return rows

    async def _abandon(self) -> None:
        """Stops the writes in flight; their pages stay pending (retried by this writer if it runs
        again, else taken over by another after `backlog_claim_idle_ms`)."""
        tasks = list(self._writing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            self._keep(self._writing.pop(task))

    async def _run(self) -> None:
        backoff_ms = 50
        try:
            while True:
                try:
                    written = await self.drain_once()
                except Unavailable as exc:   # the warm store or Redis is down: the rows wait in the backlog
                    if self.state is WriterState.STOPPING:
                        raise asyncio.CancelledError from exc   # a cancel a driver turned into an error: stop
                    log.warning("history write failed (%s); retrying in %d ms", exc.message, backoff_ms)
                    await self.sleep(backoff_ms / 1000)
                    backoff_ms = min(2 * backoff_ms, self.retry_ms_max)
                    continue
                backoff_ms = 50
                if not written and not self._writing:
                    await self.sleep(self.poll_ms / 1000)
        finally:
            await self._abandon()

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

"""Groups concurrent calls into batches: while a batch is in flight, a call waits at most
`window_ms` (or until `batch_max` calls are waiting), then its whole batch is handled by one
`flush` (one Redis round trip per stage instead of one per call); a lone call goes at once. Bounded: at most `pending_max` calls wait (beyond: 503 + Retry-After),
at most `flushes_max` batches are in flight at once (later batches wait their turn)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from podium.errors import Unavailable

I = TypeVar("I")
R = TypeVar("R")

# One answer per item, in order: a result, or the exception that item's caller gets.
Flush = Callable[[list[I]], Awaitable[Sequence[R | BaseException]]]


class MicroBatcher(Generic[I, R]):
    def __init__(self, flush: Flush[I, R], *, window_ms: float, batch_max: int, pending_max: int,
                 flushes_max: int, label: str) -> None:
        self._flush = flush
        self.window_s = window_ms / 1000
        self.batch_max = batch_max
        self.pending_max = pending_max
        self.label = label
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._slots = asyncio.Semaphore(flushes_max)
        self._collector: asyncio.Task[None] | None = None
        self._full = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, item: I) -> R:
        if len(self._pending) >= self.pending_max:
            raise Unavailable(f"{self.label} is behind: too many calls waiting", retryAfter=1)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.batch_max:
            self._full.set()
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect(), name=f"{self.label} batches")
        return await future

    async def _collect(self) -> None:
        """Hands batches to flush tasks while calls keep arriving; ends when nothing waits. With no
        batch in flight the waiting calls go at once (a lone call pays no window); while one is in
        flight, a batch waits out the window (cut short when full) to gather more."""
        while self._pending:
            if self._in_flight and len(self._pending) < self.batch_max:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.window_s)
                except TimeoutError:
                    pass
            await self._slots.acquire()
            batch = self._pending[:self.batch_max]
            del self._pending[:len(batch)]
            task = asyncio.create_task(self._run(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _run(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._flush([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter gets the store's error, none hangs
            outcomes = [exc] * len(batch)
        finally:
            self._slots.release()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def aclose(self) -> None:
        """Lets the waiting calls finish (their batches are flushed), then returns."""
        while self._collector is not None and not self._collector.done():
            await asyncio.wait([self._collector])
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))

"""The notifications an engine derived and has not written yet, on every tier (a region writes them
to its inboxes and outbox, the global tier to its outbox): written in batches of
`inbox_write_batch_max`; while the store fails the batch stays first in line (a retry writes it
again, idempotently), evaluation waits once `evaluate_queue_max` are queued, and a stopping
process retries for a bounded time."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from podium.config import NotificationSettings
from podium.errors import PodiumError
from podium.notify_rules import Notification

RETRY_S_INITIAL = 0.05       # first wait while the store fails (doubled up to inbox_retry_ms_max)
STOP_FLUSH_S_MAX = 3.0       # at stop, how long a failing store is retried before the process lets go

Write = Callable[[list[Notification]], Awaitable[None]]


class PublishQueue:
    def __init__(self, write: Write, settings: NotificationSettings, log: logging.Logger, what: str) -> None:
        self.write = write
        self.settings = settings
        self.log = log
        self.what = what               # names the queue in the log line of a failed write
        self.items: deque[Notification] = deque()
        self.published = 0
        self.failures = 0              # failed writes (each retried: nothing is dropped)
        self._lock = asyncio.Lock()

    def extend(self, notes: Iterable[Notification]) -> None:
        self.items.extend(notes)

    async def flush(self) -> bool:
        """Writes what waits; False when the store failed."""
        async with self._lock:
            while self.items:
                batch = list(itertools.islice(self.items, self.settings.inbox_write_batch_max))
                try:
                    await self.write(batch)
                except PodiumError as exc:
                    self.failures += 1
                    self.log.warning("%s held until the store answers: %s", self.what, exc)
                    return False
                for _ in batch:
                    self.items.popleft()
                self.published += len(batch)
            return True

    async def flush_with_backpressure(self) -> None:
        """While the store fails and `evaluate_queue_max` notifications wait, the caller (an
        evaluation step) waits and retries, backing off: nothing evaluated is dropped."""
        delay_s = RETRY_S_INITIAL
        while not await self.flush() and len(self.items) >= self.settings.evaluate_queue_max:
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self.settings.inbox_retry_ms_max / 1000)

    async def flush_at_stop(self) -> int:
        """Retries a failing store for up to STOP_FLUSH_S_MAX; the number left unwritten."""
        loop = asyncio.get_running_loop()
        deadline, delay_s = loop.time() + STOP_FLUSH_S_MAX, RETRY_S_INITIAL
        while not await self.flush() and loop.time() < deadline:
            await asyncio.sleep(delay_s)
            delay_s *= 2
        return len(self.items)


class QueuedEngine:
    """What an engine that derives notifications into a `PublishQueue` shows of it (counters for
    the admin listing and metrics, and the flush its loops call); the engine sets `self.queue`."""

    queue: PublishQueue

    @property
    def unpublished(self) -> deque[Notification]:
        return self.queue.items

    @property
    def published(self) -> int:
        return self.queue.published

    @property
    def publish_failures(self) -> int:
        return self.queue.failures

    async def _flush(self) -> bool:
        return await self.queue.flush()

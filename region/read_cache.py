"""An in-process read cache with singleflight: concurrent requests for the same key share one
Redis read, and a result is reused for a jittered TTL (about one subscription tick), so a burst of
identical top-N requests costs one read per key per tick. Bounded (LRU) and clocked by injection."""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from podium.clock import Clock

JITTER = 0.2   # TTLs spread over ±20% so entries do not all expire on the same tick


class ReadCache:
    def __init__(self, ttl_ms: int, entries_max: int, clock: Clock, *, rng: random.Random | None = None,
                 on_lookup: Callable[[str], None] | None = None) -> None:
        self.ttl_ms = ttl_ms
        self.entries_max = entries_max
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_lookup = on_lookup or (lambda result: None)
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl_ms > 0 and self.entries_max > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        if not self.enabled:
            return await load()
        now = self.clock.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            self.on_lookup("hit")
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            self.on_lookup("shared")
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self.on_lookup("miss")
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(value)
            ttl_s = self.ttl_ms / 1000 * (1 + self.rng.uniform(-JITTER, JITTER))
            self._entries[key] = (self.clock.monotonic() + ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.entries_max:
                self._entries.popitem(last=False)
            return value
        finally:
            self._inflight.pop(key, None)

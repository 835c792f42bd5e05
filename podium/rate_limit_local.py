"""Requests and websocket handshakes draw from in-process token buckets, charged to the shared Redis
buckets in the background: no request waits on a Redis round trip for its token, and a connect
storm of thousands of sockets costs one pipelined Redis call per `rate_limit_sync_ms`, not one per
handshake (which exhausted the Redis pool at 10,000 connects).

Each process keeps a bucket per client key with the shared bucket's rate and burst (`BucketTable`,
bounded, least recently used evicted), so one client is held to its limit by this process at once.
What it let through is summed per key and charged to the shared bucket every `rate_limit_sync_ms`
in pipelines of at most `rate_limit_sync_batch_max` keys. The shared bucket takes the charge even
when it goes into debt (down to -burst: podium/lua/token_bucket_charge.lua) and answers its level,
which the process adopts as its own bucket (less what it let through while the call was in
flight). So a client that spends its budget on other processes is refused here after one sync.

The bound across N processes: each process lets a client through on its own bucket for at most one
sync interval before it learns the shared level, so the overshoot is at most one interval's worth
per process (the level it last read plus the refill of one interval), and a client new to a process
may spend up to a burst there first; the debt makes the client pay any overshoot back, so over time
the limit holds across processes. Redis unreachable: the local buckets still hold each process to
the limit (fail open only across processes)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from podium.clock import Clock
from podium.errors import RateLimited, Unavailable

if TYPE_CHECKING:
    from podium.rate_limit import TokenBuckets

log = logging.getLogger("podium.rate_limit")
NANO = 1_000_000_000   # tokens are kept in integer nano-tokens: exact arithmetic, no float drift at the edge


def refused(key: str, retry_after_s: float) -> RateLimited:
    return RateLimited(f"rate limit exceeded for {key.split(':')[0]}; retry later", retry_after_s=retry_after_s)


class BucketTable:
    """Token buckets in memory, one per key, at most `keys_max` (least recently charged evicted: an
    evicted key starts again with a full burst). No I/O."""

    def __init__(self, clock: Clock, keys_max: int) -> None:
        self.clock = clock
        self.keys_max = max(1, keys_max)
        self._buckets: OrderedDict[str, tuple[int, int]] = OrderedDict()   # key -> (nano-tokens, at ms)

    def take(self, key: str, rate_per_s: float, burst: int, cost: int = 1) -> None:
        """Takes `cost` tokens or raises RateLimited (with the time until they are there)."""
        now = self.clock.now_ms()
        per_ms = round(rate_per_s * NANO / 1000)       # nano-tokens refilled per millisecond
        tokens = self._level(key, now, per_ms, burst)
        need = cost * NANO
        if tokens < need:
            wait_ms = -(-(need - tokens) // per_ms) if per_ms > 0 else 1000
            raise refused(key, round(wait_ms / 1000, 3))
        self._store(key, tokens - need, now)

    def adopt(self, key: str, tokens: float) -> None:
        """Sets a key's level to what the shared bucket answered (a client spending elsewhere)."""
        self._store(key, round(tokens * NANO), self.clock.now_ms())

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: int, per_ms: int, burst: int) -> int:
        full = burst * NANO
        tokens, at = self._buckets.get(key, (full, now))
        return min(full, tokens + max(0, now - at) * per_ms)   # a clock stepping back refills nothing

    def _store(self, key: str, tokens: int, now: int) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.keys_max:
            self._buckets.popitem(last=False)


class LocalBuckets:
    def __init__(self, shared: TokenBuckets, clock: Clock, sync_ms: int, keys_max: int,
                 sync_batch_max: int = 1000) -> None:
        self.shared = shared
        self.clock = clock
        self.sync_ms = sync_ms
        self.keys_max = max(1, keys_max)
        self.sync_batch_max = max(1, sync_batch_max)
        self.table = BucketTable(clock, self.keys_max)
        self._pending: dict[tuple[str, float], int] = {}     # (key, scale) -> tokens to charge
        self._sync: asyncio.Task[None] | None = None
        self.shared_calls = 0      # pipelines sent to Redis
        self.uncharged = 0         # tokens never charged to Redis (the pending map was full)

    def take(self, key: str, scale: float = 1.0, cost: int = 1) -> None:
        """Raises RateLimited without any I/O; schedules the shared charge."""
        self.table.take(key, self.shared.rate_per_s * scale, max(1, round(self.shared.burst * scale)), cost)
        slot = (key, scale)
        if slot in self._pending:
            self._pending[slot] += cost
        elif len(self._pending) < self.keys_max:
            self._pending[slot] = cost
        else:
            self.uncharged += cost    # bounded: this process still holds the client to its limit
        if self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._charge_later())

    @property
    def settled(self) -> bool:
        """Everything let through has been charged and the shared levels adopted."""
        return self._sync is None and not self._pending

    async def _charge_later(self) -> None:
        try:
            await asyncio.sleep(self.sync_ms / 1000)
            await self.flush()
        finally:
            self._sync = None
        if self._pending:   # what was let through while the charge was in flight
            self._sync = asyncio.get_running_loop().create_task(self._charge_later())

    async def flush(self) -> None:
        """Charges everything let through since the last flush, `sync_batch_max` keys per pipeline,
        and adopts the shared levels."""
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        for start in range(0, len(items), self.sync_batch_max):
            await self._charge(items[start:start + self.sync_batch_max])

    async def _charge(self, items: Sequence[tuple[tuple[str, float], int]]) -> None:
        self.shared_calls += 1
        try:
            levels = await self.shared.charge_many([(key, cost, scale) for (key, scale), cost in items])
        except (Unavailable, OSError) as exc:
            log.warning("rate limits not charged to Redis (%s): %s", type(exc).__name__, exc)
            return
        except Exception:   # a background task: nobody else would see it fail
            log.exception("rate limits not charged to Redis")
            return
        for ((key, scale), _cost), level in zip(items, levels, strict=True):
            in_flight = self._pending.get((key, scale), 0)    # let through while the call was out
            self.table.adopt(key, level - in_flight)

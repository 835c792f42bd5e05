"""Websocket handshakes draw from in-process token buckets, charged to the shared Redis buckets
afterwards: a connect storm of thousands of sockets costs one Redis call per client key per
`rate_limit_sync_ms`, not one per handshake (which exhausted the Redis pool at 10,000 connects).

Each process keeps a bucket per key with the shared bucket's rate and burst (so one client is held
to the limit by this process at once, with no Redis call), accumulates what it let through, and
charges that to the shared bucket in one call per key per interval. When the shared bucket refuses
(the client spent its budget on other processes too) the key is refused locally until the
shared bucket's retry time: across N processes a client gets at most its limit plus N-1 bursts
within one interval. Redis unreachable: fail open, as the request limiter does."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

from podium.clock import Clock
from podium.errors import RateLimited, Unavailable

if TYPE_CHECKING:
    from podium.rate_limit import TokenBuckets

log = logging.getLogger("podium.rate_limit")


class LocalBuckets:
    def __init__(self, shared: TokenBuckets, clock: Clock, sync_ms: int, keys_max: int) -> None:
        self.shared = shared
        self.clock = clock
        self.sync_ms = sync_ms
        self.keys_max = max(1, keys_max)
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()   # key -> (tokens, at ms)
        self._pending: dict[tuple[str, float], int] = {}                     # (key, scale) -> cost to charge
        self._refused_until: dict[str, int] = {}                             # key -> ms (the shared bucket said no)
        self._sync: asyncio.Task[None] | None = None
        self.shared_calls = 0

    def take(self, key: str, scale: float = 1.0, cost: int = 1) -> None:
        """Raises RateLimited without any I/O; schedules the shared charge."""
        now = self.clock.now_ms()
        until = self._refused_until.get(key)
        if until is not None:
            if until > now:
                raise RateLimited(f"rate limit exceeded for {key.split(':')[0]}; retry later",
                                  retry_after_s=round((until - now) / 1000, 3))
            del self._refused_until[key]
        rate, burst = self.shared.rate_per_s * scale, max(1, round(self.shared.burst * scale))
        tokens, at = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate / 1000)
        if tokens < cost:
            raise RateLimited(f"rate limit exceeded for {key.split(':')[0]}; retry later",
                              retry_after_s=round((cost - tokens) / rate, 3) if rate > 0 else 1.0)
        self._buckets[key] = (tokens - cost, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.keys_max:
            self._buckets.popitem(last=False)
        self._pending[(key, scale)] = self._pending.get((key, scale), 0) + cost
        if self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._charge_later())

    async def _charge_later(self) -> None:
        try:
            await asyncio.sleep(self.sync_ms / 1000)
        finally:
            self._sync = None
        pending, self._pending = self._pending, {}
        for (key, scale), cost in pending.items():
            self.shared_calls += 1
            cost = min(cost, max(1, round(self.shared.burst * scale)))   # more never fits the shared bucket
            try:
                await self.shared.take(key, cost=cost, scale=scale)
            except RateLimited as exc:
                self._refused_until[key] = self.clock.now_ms() + max(1, round(exc.retry_after_s * 1000))
            except (Unavailable, OSError) as exc:
                log.warning("handshake rate limit not charged to Redis (%s): %s", type(exc).__name__, exc)
        if len(self._refused_until) > self.keys_max:
            now = self.clock.now_ms()
            self._refused_until = {k: t for k, t in self._refused_until.items() if t > now}

"""Whether a board's top in the region's Redis can be trusted right now, for the notification rules.

When Redis loses its data (FLUSHALL, a restart without its append-only file), the fan-out shows the
board emptied and then refilled by the rebuild from the warm store. Those are not changes of the
standings: the rules must skip them and compare the rebuilt top with the one they saw before. The
region's own marks say when: the data mark (`podium:data-mark`, set by every process at start and
again once a lost Redis has been restored) is absent from the loss until the region has noticed it,
and the board's rebuild lease (`podium:rebuilding`) is held until its rebuild is done."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from podium.clock import Clock
from podium.errors import Unavailable
from podium.keys import DATA_MARK_KEY, REBUILDING_KEY
from podium.redis_client import AnyRedis


class RedisDataWatch:
    def __init__(self, redis: AnyRedis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock

    async def trusted(self, board: str) -> bool:
        """Marked and not being rebuilt: one round trip."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(DATA_MARK_KEY)
                pipe.hget(REBUILDING_KEY, board)
                marked, lease = await pipe.execute()
        except RedisError as exc:
            raise Unavailable(f"notification data watch (Redis): {exc}", retryAfter=1.0) from exc
        return bool(marked) and not _held(lease, self.clock.now_ms())


def _held(lease: Any, now_ms: int) -> bool:
    """A lease is "<deadline ms>:<token>"; a lapsed one no longer holds the board."""
    if lease is None:
        return False
    raw = lease if isinstance(lease, bytes) else str(lease).encode()
    deadline = raw.split(b":", 1)[0]
    return not deadline.isdigit() or int(deadline) > now_ms

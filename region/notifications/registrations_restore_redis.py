"""Makes the Redis copy of the declared rules and webhook endpoints equal to the warm copy
(`registrations_sqlite`) and back: at start, and whenever Redis shows it lost its data.

At start the two are merged both ways: what only the warm copy holds goes to Redis (a Redis that lost
its data), what only Redis holds goes to the warm copy (declared before the warm copy existed). Then
a marker key is set; while the process runs, a Redis without the marker has lost its data since, and
the warm copy is written back into it. Only then: a removal removes from Redis first, and merging
while one is under way would bring it back.
"""

from __future__ import annotations

import asyncio
import logging

from podium.region.notifications.registrations_sqlite import Kind, SqliteRegistrations

from podium.errors import PodiumError
from podium.notify_rules_redis import RULES_KEY
from podium.notify_webhooks_redis import ENDPOINTS_KEY
from podium.redis_client import AnyRedis, store_reply

log = logging.getLogger("podium.notifications")
MARKER_KEY = "pn:registrations-restored"
_HASHES: dict[Kind, str] = {"rule": RULES_KEY, "webhook": ENDPOINTS_KEY}


async def restore_registrations(redis: AnyRedis, warm: SqliteRegistrations) -> dict[str, int]:
    """Merge both ways; how many of each kind went to Redis and to the warm copy."""
    moved: dict[str, int] = {}
    for kind, key in _HASHES.items():
        raw = await store_reply(redis.hgetall(key), "notification registrations", 1.0)
        in_redis = {(k.decode() if isinstance(k, bytes) else k): (v if isinstance(v, bytes) else v.encode())
                    for k, v in raw.items()}
        in_warm = await warm.all(kind)
        to_redis = {k: d for k, d in in_warm.items() if k not in in_redis}
        to_warm = {k: d for k, d in in_redis.items() if k not in in_warm}
        if to_redis:
            await store_reply(redis.hset(key, mapping=to_redis), "notification registrations", 1.0)  # type: ignore[arg-type]  # str keys: the stub's key type is invariant
        await warm.put_many(kind, to_warm)
        moved[f"{kind}s_to_redis"], moved[f"{kind}s_to_warm"] = len(to_redis), len(to_warm)
    await store_reply(redis.set(MARKER_KEY, 1), "notification registrations", 1.0)
    return moved


async def follow_registrations(redis: AnyRedis, warm: SqliteRegistrations, stop: asyncio.Event, poll_ms: int) -> None:
    """Every `poll_ms`: a Redis without the marker lost its data; write the warm copy back."""
    while not stop.is_set():
        try:
            if not await store_reply(redis.exists(MARKER_KEY), "notification registrations", 1.0):
                moved = await restore_registrations(redis, warm)
                log.warning("Redis lost the notification registrations: restored from the warm copy %s", moved)
        except PodiumError as exc:
            log.warning("notification registrations not checked: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), poll_ms / 1000)
        except TimeoutError:
            pass

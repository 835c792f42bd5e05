"""The global tier's notification outbox in its Redis: a stream (`pg:outbox`, field `n`: JSON)
bounded with MAXLEN ~, read by the delivery worker's consumer group (podium.notify_delivery)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from redis.exceptions import RedisError

from podium.errors import Unavailable
from podium.notify_rules import Notification
from podium.notify_webhooks_redis import GLOBAL_KEYS
from podium.redis_client import AnyRedis


class GlobalOutbox:
    """The global tier's outbox: a Redis stream (`pg:outbox`, field `n`: JSON) bounded with MAXLEN ~,
    read by the delivery worker's consumer group."""

    def __init__(self, redis: AnyRedis, outbox_len_max: int, key: str = GLOBAL_KEYS.outbox) -> None:
        self.redis = redis
        self.outbox_len_max = outbox_len_max
        self.key = key

    async def add(self, notes: Sequence[Notification]) -> None:
        if not notes:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for note in notes:
                    pipe.xadd(self.key, {"n": orjson.dumps(note.to_dict())}, maxlen=self.outbox_len_max,
                              approximate=True)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(f"global notification outbox (Redis): {exc}", retryAfter=1.0) from exc

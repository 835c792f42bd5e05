"""The notification outbox: a Redis stream holding every published notification once (field `n`:
JSON), bounded with MAXLEN ~; webhook delivery reads it with a consumer group. Adding a batch also
removes it from the evaluation journal's pending hash, in the same MULTI (see `journal_redis`): a
notification reaches the outbox once even if the process dies around the write."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from podium.region.notifications.journal_redis import PENDING_KEY, pending_field
from redis.exceptions import RedisError

from podium.errors import Unavailable
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis

OUTBOX_KEY = "pn:outbox"


class RedisOutbox:
    def __init__(self, redis: AnyRedis, outbox_len_max: int) -> None:
        self.redis = redis
        self.outbox_len_max = outbox_len_max

    async def add(self, notes: Sequence[Notification]) -> None:
        """One round trip for the batch (a MULTI with the journal's `pending`); a batch retried after a
        failed reply may add its notes again (receivers dedupe by id)."""
        if not notes:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for note in notes:
                    pipe.xadd(OUTBOX_KEY, {"n": orjson.dumps(note.to_dict())}, maxlen=self.outbox_len_max,
                              approximate=True)
                pipe.hdel(PENDING_KEY, *(pending_field(n) for n in notes))
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc

"""A settled contest's signed settlement, published once to the region's notification outbox so
the webhook delivery of region/notifications (per-endpoint queues, HMAC-signed deliveries with an
event id, retries with backoff, dead letters, breakers) carries it to the game's wallet. There is
no second delivery path: this module only writes the outbox entry.

The outbox entry is a notification-shaped document: `id` (the webhook event id, the same on every
retry: `contest_settled:<contest>`), `kind` = `contest_settled`, `board` = the contest (so an
endpoint can subscribe by kind and by contest), `at_ms`, and the signed settlement
(`settlement`, `key_id`, `signature`, as `GET /v1/contests/{c}/settlement` serves it).

Published at least once: the contest's `settlement_published` flag is set after the outbox write,
so a crash in between publishes again with the same event id (receivers dedupe by it).
"""

from __future__ import annotations

from typing import Any

import orjson
from podium.region.contests.store_redis import contest_key
from podium.region.notifications.inbox_redis import OUTBOX_KEY

from podium.notify_webhooks import CONTEST_SETTLED
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

PUBLISHED_FIELD = "settlement_published"


def settlement_event_id(contest_id: str) -> str:
    return f"{CONTEST_SETTLED}:{contest_id}"


@translate_store_errors("the settlement outbox (Redis)")
class RedisSettlementOutbox:
    def __init__(self, redis: AnyRedis, outbox_len_max: int) -> None:
        self.redis = redis
        self.outbox_len_max = outbox_len_max

    async def publish(self, contest_id: str, signed: dict[str, Any], now_ms: int) -> bool:
        """Writes the settlement to the outbox unless it was published before; True when written."""
        key = contest_key(contest_id, "def")
        if await self.redis.hexists(key, PUBLISHED_FIELD):
            return False
        doc = {"id": settlement_event_id(contest_id), "kind": CONTEST_SETTLED, "board": contest_id, "at_ms": now_ms,
               **signed}
        await self.redis.xadd(OUTBOX_KEY, {"n": orjson.dumps(doc)}, maxlen=self.outbox_len_max, approximate=True)
        await self.redis.hset(key, PUBLISHED_FIELD, now_ms)
        return True

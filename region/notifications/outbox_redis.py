"""The notification outbox: a Redis stream holding every published notification once (field `n`:
JSON), bounded with MAXLEN ~; webhook delivery reads it with a consumer group. Adding a batch also
removes it from the evaluation journal's pending hash, atomically (one script: see `journal_redis`):
a notification reaches the outbox once even if the process dies around the write.

The batch is one EVALSHA (its XADDs and the HDEL run in Redis): a MULTI of one XADD per
notification cost the region redis-py's packing and reply parsing per command, the largest part of
publishing a batch (~6% of a region's samples under ingest with 100 rules)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from podium.region.notifications.journal_redis import PENDING_KEY, pending_field
from redis.exceptions import RedisError

from podium.errors import Unavailable
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis

OUTBOX_KEY = "pn:outbox"

# KEYS: outbox, pending. ARGV: maxlen, n, then n documents, then n pending fields. Both keys share
# the hash tag {pn:outbox}'s slot, so the script is legal on a Redis Cluster.
_ADD = """
local n = tonumber(ARGV[2])
for i = 3, n + 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', ARGV[i])
end
for i = n + 3, 2 * n + 2 do
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return n
"""


class RedisOutbox:
    def __init__(self, redis: AnyRedis, outbox_len_max: int) -> None:
        self.redis = redis
        self.outbox_len_max = outbox_len_max
        self._add = redis.register_script(_ADD)

    async def add(self, notes: Sequence[Notification]) -> None:
        """One round trip for the batch (atomic with the journal's `pending`); a batch retried after a
        failed reply may add its notes again (receivers dedupe by id)."""
        if not notes:
            return
        args: list[bytes | str | int] = [self.outbox_len_max, len(notes)]
        args.extend(orjson.dumps(note.to_dict()) for note in notes)
        args.extend(pending_field(n) for n in notes)
        try:
            await self._add(keys=[OUTBOX_KEY, PENDING_KEY], args=args)
        except RedisError as exc:
            raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc

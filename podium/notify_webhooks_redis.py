"""Webhook endpoints, their delivery queues and the dead letters in Redis (a region's keys below;
the global tier's are the same under `pg:`/`pgw:`, see `GLOBAL_KEYS`).

    pw:endpoints     hash: endpoint id -> JSON (with its secret)
    pw:q:{E}         stream per endpoint: events waiting for delivery (`n` JSON, `t` enqueued ms);
                     consumer group "d"; an entry is acked and deleted once delivered or dead-lettered
    pw:dead          stream: dead-lettered deliveries (`e` endpoint, `n`, `err`, `t`), bounded
    pw:wake          set: endpoints whose queue another writer (a replay) added to; the delivery
                     worker pops it every poll instead of reading every queue to find such entries
The outbox (`pn:outbox`) is read by the consumer group "webhooks": an outbox entry is acked only
after it is copied into every matching endpoint queue, so a restart re-reads it (pending entries
first), and a queue entry is acked only after delivery, so a restart re-delivers it. The delivery
worker reads, writes and acks the queues of all endpoints in pipelines (one round trip each), so
its Redis connections do not grow with the number of endpoints.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from redis.exceptions import RedisError, ResponseError

from podium.errors import BadUserInput, NotFound, Unavailable
from podium.notify_rules_redis import WarmCopy
from podium.notify_webhooks import Endpoint
from podium.redis_client import AnyRedis, store_reply

T = TypeVar("T")
ENDPOINTS_KEY = "pw:endpoints"
DEAD_KEY = "pw:dead"
OUTBOX_GROUP = "webhooks"
QUEUE_GROUP = "d"
Message = tuple[str, dict[bytes, bytes]]   # fields as Redis returns them (never decoded)


@dataclass(frozen=True, slots=True)
class WebhookKeys:
    """Where one tier keeps its webhook state: a region and the global tier never share keys, even
    on one Redis."""
    endpoints: str
    dead: str
    outbox: str
    queue_prefix: str
    wake: str

    def queue(self, endpoint_id: str) -> str:
        return self.queue_prefix + "{" + endpoint_id + "}"


REGION_KEYS = WebhookKeys(ENDPOINTS_KEY, DEAD_KEY, "pn:outbox", "pw:q:", "pw:wake")
GLOBAL_KEYS = WebhookKeys("pgw:endpoints", "pgw:dead", "pg:outbox", "pgw:q:", "pgw:wake")


# The endpoints' digest: the delivery worker re-reads (and re-parses) the endpoints only when it
# changed, whoever wrote them (the admin API, the warm copy's restore, another process).
# Every (field, value) with their lengths (no separator can be forged), sorted (a hash's iteration
# order may change without a write), hashed inside Redis.
_FINGERPRINT = """
local all = redis.call('HGETALL', KEYS[1])
local parts = {}
for i = 1, #all, 2 do parts[#parts + 1] = #all[i] .. ':' .. all[i] .. #all[i + 1] .. ':' .. all[i + 1] end
table.sort(parts)
return redis.sha1hex(table.concat(parts))
"""


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisWebhooks:
    def __init__(self, redis: AnyRedis, endpoints_max: int, queue_len_max: int, dead_letters_max: int,
                 warm: WarmCopy | None = None, keys: WebhookKeys = REGION_KEYS) -> None:
        self.redis = redis
        self.keys = keys
        self.warm = warm          # the endpoints' warm copy: written first, removed from both
        self.endpoints_max = endpoints_max
        self.queue_len_max = queue_len_max
        self.dead_letters_max = dead_letters_max
        self._groups: set[str] = set()
        self._fingerprint: str | None = None     # the digest script's sha (`poll`)

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "webhook store", retry_after_s=1.0)

    # -- endpoints ---------------------------------------------------------------------------
    async def endpoints(self) -> list[Endpoint]:
        raw = await self._call(self.redis.hgetall(self.keys.endpoints))
        return sorted((Endpoint.from_dict(orjson.loads(v)) for v in raw.values()), key=lambda e: e.id)

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        exists = await self._call(self.redis.hexists(self.keys.endpoints, endpoint.id))
        if not exists and await self._call(self.redis.hlen(self.keys.endpoints)) >= self.endpoints_max:
            raise BadUserInput(f"at most {self.endpoints_max} webhook endpoints")
        doc = orjson.dumps(endpoint.to_dict())
        if self.warm is not None:
            await self.warm.put("webhook", endpoint.id, doc)
        await self._call(self.redis.hset(self.keys.endpoints, endpoint.id, doc))

    async def delete_endpoint(self, endpoint_id: str) -> None:
        removed = await self._call(self.redis.hdel(self.keys.endpoints, endpoint_id))
        in_warm = await self.warm.delete("webhook", endpoint_id) if self.warm is not None else False
        if not removed and not in_warm:
            raise NotFound(f"no webhook endpoint {endpoint_id!r}")

    # -- streams -----------------------------------------------------------------------------
    async def _group(self, key: str, group: str) -> bool:
        """Make the consumer group once the stream exists (from id 0: nothing written before is
        missed). The worker never creates a stream itself: an idle region leaves Redis as it was."""
        if key in self._groups:
            return True
        try:
            await self.redis.xgroup_create(key, group, id="0")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                if "key to exist" in str(exc) or "no such key" in str(exc).lower():
                    return False        # nothing was ever written: nothing to read
                raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        self._groups.add(key)
        return True

    async def poll(self, consumer: str, count: int, start: str, woken_max: int) -> tuple[list[Message], bytes, list[str]]:
        """What a delivery worker's turn starts from, in one round trip: up to `count` outbox
        entries from `start` ("0": this consumer's pending ones, ">": new ones), then the
        endpoints' digest (`endpoints_fingerprint`: read after the entries, so an endpoint
        registered before an entry was written is in it), then up to `woken_max` woken endpoints
        (added by `enqueue`; none when 0)."""
        if self._fingerprint is None:
            self._fingerprint = _text(await self._call(self.redis.script_load(_FINGERPRINT)))
        grouped = await self._group(self.keys.outbox, OUTBOX_GROUP)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if grouped:
                    pipe.xreadgroup(OUTBOX_GROUP, consumer, {self.keys.outbox: start}, count=count)
                pipe.evalsha(self._fingerprint, 1, self.keys.endpoints)
                if woken_max > 0:
                    pipe.spop(self.keys.wake, woken_max)
                replies: list[Any] = await pipe.execute()
        except ResponseError as exc:
            if "NOGROUP" in str(exc):        # the stream was deleted (e.g. FLUSHALL): make it again
                self._groups.discard(self.keys.outbox)
            if "NOSCRIPT" in str(exc):       # Redis lost its scripts (a restart): loaded again
                self._fingerprint = None
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        reply = replies.pop(0) if grouped else []
        batch = [(_text(mid), fields) for _, entries in reply or [] for mid, fields in entries if fields]
        digest = replies.pop(0)
        woken = [_text(v) for v in replies.pop(0) or ()] if woken_max > 0 else []
        return batch, digest if isinstance(digest, bytes) else str(digest).encode(), woken

    async def route(self, items: list[tuple[str, bytes]], enqueued_ms: int, outbox_ids: list[str]) -> None:
        """Append each (endpoint id, notification) to its endpoint's queue and ack the outbox
        entries they came from, all or nothing (MULTI): one round trip."""
        if not items and not outbox_ids:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for endpoint_id, doc in items:
                    pipe.xadd(self.keys.queue(endpoint_id), {"n": doc, "t": enqueued_ms},
                              maxlen=self.queue_len_max, approximate=True)
                if outbox_ids:
                    pipe.xack(self.keys.outbox, OUTBOX_GROUP, *outbox_ids)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc

    async def read_queues(self, reads: dict[str, str], consumer: str, count: int,
                          done: list[tuple[str, str]]) -> tuple[dict[str, list[Message]], bool]:
        """Ack and delete each delivered (endpoint id, queue entry id) in `done` (one XACK and one
        XDEL per endpoint), then read up to `count` entries of each endpoint's queue from its
        start id ("0": this consumer's pending entries, ">": new ones); all in one round trip.
        A queue seen for the first time gets its consumer group first (from id 0); a queue never
        written, or whose group is gone (FLUSHALL), is left out and its group made on a later
        read. Returns the entries read and whether every ack was written (if not, the caller
        keeps `done` for the next call)."""
        by_endpoint: dict[str, list[str]] = {}
        for endpoint_id, message_id in done:
            by_endpoint.setdefault(endpoint_id, []).append(message_id)
        idents = list(reads)
        unknown = [e for e in idents if self.keys.queue(e) not in self._groups]
        if not by_endpoint and not idents:
            return {}, True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for endpoint_id, ids in by_endpoint.items():
                    pipe.xack(self.keys.queue(endpoint_id), QUEUE_GROUP, *ids)
                    pipe.xdel(self.keys.queue(endpoint_id), *ids)
                for e in unknown:
                    pipe.xgroup_create(self.keys.queue(e), QUEUE_GROUP, id="0")
                for e in idents:
                    pipe.xreadgroup(QUEUE_GROUP, consumer, {self.keys.queue(e): reads[e]}, count=count)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        acks_ok = not any(isinstance(r, Exception) for r in replies[:2 * len(by_endpoint)])
        del replies[:2 * len(by_endpoint)]
        for e in unknown:
            reply = replies.pop(0)
            if not isinstance(reply, Exception) or "BUSYGROUP" in str(reply):
                self._groups.add(self.keys.queue(e))
        out: dict[str, list[Message]] = {}
        for e, reply in zip(idents, replies, strict=True):
            if isinstance(reply, Exception):      # no stream yet, or its group is gone
                self._groups.discard(self.keys.queue(e))
                continue
            out[e] = [(_text(mid), fields or {}) for _, entries in (reply or []) for mid, fields in entries]
        return out, acks_ok

    async def done_many(self, entries: list[tuple[str, str]]) -> None:
        """Ack and delete each delivered (endpoint id, queue entry id): one round trip."""
        _, acks_ok = await self.read_queues({}, "", 0, entries)
        if not acks_ok:
            raise Unavailable("webhook store (Redis): acks not written", retryAfter=1.0)

    async def enqueue(self, endpoint_id: str, doc: bytes, enqueued_ms: int) -> None:
        """Add one event to an endpoint's queue from outside the delivery worker, and wake the
        endpoint (the wake set, taken by `poll`) so the worker reads its queue at its next poll."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self.keys.queue(endpoint_id), {"n": doc, "t": enqueued_ms},
                          maxlen=self.queue_len_max, approximate=True)
                pipe.sadd(self.keys.wake, endpoint_id)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc

    async def queued(self, endpoint_id: str) -> int:
        return int(await self._call(self.redis.xlen(self.keys.queue(endpoint_id))))

    # -- dead letters ------------------------------------------------------------------------
    async def dead_letter(self, endpoint_id: str, doc: bytes, error: str, now_ms: int) -> None:
        await self._call(self.redis.xadd(self.keys.dead, {"e": endpoint_id, "n": doc, "err": error[:500], "t": now_ms},
                                         maxlen=self.dead_letters_max, approximate=True))

    async def dead_letters(self, count: int, after: str | None = None) -> list[dict[str, object]]:
        start = f"({after}" if after else "-"
        try:
            rows: Any = await self.redis.xrange(self.keys.dead, start, "+", count=count)
        except ResponseError as exc:
            raise BadUserInput("after is not a dead-letter id", field="after") from exc
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        return [{"id": _text(mid), "endpoint": _text(f[b"e"]), "notification": orjson.loads(f[b"n"]),
                 "error": _text(f[b"err"]), "at_ms": int(f[b"t"])} for mid, f in rows]

    async def replay(self, dead_id: str, now_ms: int) -> None:
        """Put a dead letter back on its endpoint's queue (a fresh deadline) and drop it from the list."""
        try:
            rows: Any = await self.redis.xrange(self.keys.dead, dead_id, dead_id)
        except ResponseError as exc:
            raise BadUserInput("not a dead-letter id", field="id") from exc
        except RedisError as exc:
            raise Unavailable(f"webhook store (Redis): {exc}", retryAfter=1.0) from exc
        if not rows:
            raise NotFound(f"no dead letter {dead_id!r}")
        fields = rows[0][1]
        await self.enqueue(_text(fields[b"e"]), fields[b"n"], now_ms)
        await self._call(self.redis.xdel(self.keys.dead, dead_id))

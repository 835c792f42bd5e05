"""The idempotency adapter over Redis: each batch's response stored under its Idempotency-Key (a
retry replays it), with a short "pending" mark while the first request is processed. Redis errors
become coded errors here (`translate_store_errors`), for every method."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from podium.errors import Conflict, InProgress
from podium.redis_client import AnyRedis, as_bytes
from podium.store_errors import translate_store_errors


@translate_store_errors("the idempotency store (Redis)")
class IdempotencyStore:
    """Stores each batch's response under its Idempotency-Key so a retry replays it."""

    PENDING = b"pending"

    def __init__(self, redis: AnyRedis, ttl_ms: int, pending_ms: int = 30_000) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.pending_ms = pending_ms

    @staticmethod
    def _key(scope: str, idem_key: str) -> str:
        return f"pidem:{scope}:{hashlib.sha256(idem_key.encode()).hexdigest()}"

    async def begin(self, scope: str, idem_key: str, body_hash: str) -> dict[str, Any] | None:
        """Returns the stored response for a replay, or None when this request should proceed."""
        key = self._key(scope, idem_key)
        if await self.redis.set(key, self.PENDING + b":" + body_hash.encode(), nx=True, px=self.pending_ms):
            return None
        stored = await self.redis.get(key)
        if stored is None:
            return await self.begin(scope, idem_key, body_hash)
        if as_bytes(stored).startswith(self.PENDING + b":"):
            raise InProgress("a batch with this Idempotency-Key is still being processed; retry shortly")
        doc = orjson.loads(stored)
        if doc["body_hash"] != body_hash:
            raise Conflict("Idempotency-Key was already used with a different batch")
        return doc["response"]  # type: ignore[no-any-return]

    async def finish(self, scope: str, idem_key: str, body_hash: str, response: dict[str, Any]) -> None:
        doc = orjson.dumps({"body_hash": body_hash, "response": response})
        await self.redis.set(self._key(scope, idem_key), doc, px=self.ttl_ms)

    async def finish_encoded(self, scope: str, idem_key: str, body_hash: str, response: bytes) -> None:
        """`finish` for a response already encoded as JSON (spliced in, not decoded and re-encoded)."""
        doc = b'{"body_hash":' + orjson.dumps(body_hash) + b',"response":' + response + b"}"
        await self.redis.set(self._key(scope, idem_key), doc, px=self.ttl_ms)

    async def abandon(self, scope: str, idem_key: str) -> None:
        await self.redis.delete(self._key(scope, idem_key))

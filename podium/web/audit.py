"""The audit log of admin actions (who, what, when): a bounded Redis list, newest first.

Recorded by the server after an admin action succeeded (GraphQL mutations through the `AuditMutations`
extension, REST admin routes through `AuditRestMiddleware`), read by the `auditLog` admin query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from podium.errors import Unavailable
from podium.redis_client import AnyRedis

AUDIT_KEY = "podium:audit"
DETAIL_CHARS_MAX = 2000   # a record stays small whatever the action's arguments were


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at_ms: int
    who: str
    action: str
    detail: dict[str, Any]

    def to_json(self) -> bytes:
        detail = orjson.dumps(self.detail)
        if len(detail) > DETAIL_CHARS_MAX:
            detail = orjson.dumps({"truncated": detail[:DETAIL_CHARS_MAX].decode(errors="ignore")})
        return orjson.dumps({"at_ms": self.at_ms, "who": self.who, "action": self.action,
                             "detail": orjson.loads(detail)})

    @classmethod
    def from_json(cls, raw: bytes | str) -> AuditRecord:
        doc = orjson.loads(raw)
        return cls(int(doc["at_ms"]), str(doc["who"]), str(doc["action"]), dict(doc["detail"]))


class AuditLog:
    def __init__(self, redis: AnyRedis, len_max: int) -> None:
        self.redis = redis
        self.len_max = len_max

    async def record(self, record: AuditRecord) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(AUDIT_KEY, record.to_json())
                pipe.ltrim(AUDIT_KEY, 0, self.len_max - 1)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable("the audit log (Redis) is unreachable; retry shortly") from exc

    async def recent(self, count: int) -> list[AuditRecord]:
        try:
            rows = await self.redis.lrange(AUDIT_KEY, 0, max(0, min(count, self.len_max)) - 1)
        except RedisError as exc:
            raise Unavailable("the audit log (Redis) is unreachable; retry shortly") from exc
        return [AuditRecord.from_json(r) for r in rows]

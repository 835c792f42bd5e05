"""Declared notification rules in Redis: a hash (`pn:rules` in a region, `pg:rules` on the global
tier), "<board>/<rule id>" -> JSON. With a warm copy (a region's `registrations_sqlite`), a
declaration is written there first and a removal removed from both."""

from __future__ import annotations

from typing import Literal, Protocol

import orjson
from redis.exceptions import RedisError

from podium.errors import BadUserInput, NotFound, Unavailable
from podium.notify_rules import Rule, rule_from_dict
from podium.redis_client import AnyRedis

RULES_KEY = "pn:rules"


class WarmCopy(Protocol):
    """A durable copy of the registrations (rules, webhook endpoints) kept outside Redis."""

    async def put(self, kind: Literal["rule", "webhook"], key: str, doc: bytes) -> None: ...

    async def delete(self, kind: Literal["rule", "webhook"], key: str) -> bool: ...


class RedisRules:
    def __init__(self, redis: AnyRedis, rules_per_board_max: int, warm: WarmCopy | None = None,
                 key: str = RULES_KEY) -> None:
        self.redis = redis
        self.key = key
        self.rules_per_board_max = rules_per_board_max
        self.warm = warm

    async def all(self) -> list[Rule]:
        try:
            raw = await self.redis.hgetall(self.key)
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc
        return sorted((rule_from_dict(orjson.loads(v)) for v in raw.values()), key=lambda r: (r.board, r.id))

    async def put(self, rule: Rule) -> None:
        same_board = [r for r in await self.all() if r.board == rule.board and r.id != rule.id]
        if len(same_board) >= self.rules_per_board_max:
            raise BadUserInput(f"a board has at most {self.rules_per_board_max} notification rules")
        key, doc = f"{rule.board}/{rule.id}", orjson.dumps(rule.to_dict())
        if self.warm is not None:
            await self.warm.put("rule", key, doc)
        try:
            await self.redis.hset(self.key, key, doc)
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc

    async def delete(self, board: str, rule_id: str) -> None:
        try:
            removed = await self.redis.hdel(self.key, f"{board}/{rule_id}")
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc
        # a removal retried after a failed warm write finds Redis done: the warm copy still counts
        in_warm = await self.warm.delete("rule", f"{board}/{rule_id}") if self.warm is not None else False
        if not removed and not in_warm:
            raise NotFound(f"no rule {rule_id!r} on board {board!r}")

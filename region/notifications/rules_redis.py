"""Declared notification rules in Redis: hash `pn:rules`, "<board>/<rule id>" -> JSON."""

from __future__ import annotations

import orjson
from podium.region.notifications.rules import Rule, rule_from_dict
from redis.exceptions import RedisError

from podium.errors import BadUserInput, NotFound, Unavailable
from podium.redis_client import AnyRedis

RULES_KEY = "pn:rules"


class RedisRules:
    def __init__(self, redis: AnyRedis, rules_per_board_max: int) -> None:
        self.redis = redis
        self.rules_per_board_max = rules_per_board_max

    async def all(self) -> list[Rule]:
        try:
            raw = await self.redis.hgetall(RULES_KEY)
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc
        return sorted((rule_from_dict(orjson.loads(v)) for v in raw.values()), key=lambda r: (r.board, r.id))

    async def put(self, rule: Rule) -> None:
        same_board = [r for r in await self.all() if r.board == rule.board and r.id != rule.id]
        if len(same_board) >= self.rules_per_board_max:
            raise BadUserInput(f"a board has at most {self.rules_per_board_max} notification rules")
        try:
            await self.redis.hset(RULES_KEY, f"{rule.board}/{rule.id}", orjson.dumps(rule.to_dict()))
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc

    async def delete(self, board: str, rule_id: str) -> None:
        try:
            removed = await self.redis.hdel(RULES_KEY, f"{board}/{rule_id}")
        except RedisError as exc:
            raise Unavailable(f"notification rules (Redis): {exc}", retryAfter=1.0) from exc
        if not removed:
            raise NotFound(f"no rule {rule_id!r} on board {board!r}")

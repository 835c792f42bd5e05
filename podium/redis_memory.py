"""Redis memory for /metrics: the instance's used memory and its `maxmemory` limit (what the
"Redis memory near its limit" alert divides), and the memory of each board's keys.

Observable-gauge callbacks run synchronously inside a scrape, so they cannot await Redis: a
background poll (every `metrics.redis_poll_ms`) reads INFO and MEMORY USAGE into plain numbers and
the callbacks report the last reading."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from redis.exceptions import RedisError

from podium.config import MetricsSettings
from podium.redis_client import AnyRedis

log = logging.getLogger("podium.metrics")
BoardKeysReader = Callable[[], Awaitable[dict[str, list[str]]]]  # board id -> its keys (current season)


class RedisMemoryProbe:
    def __init__(self, redis: AnyRedis, meter: Meter, limits: MetricsSettings,
                 board_keys: BoardKeysReader | None = None) -> None:
        self.redis = redis
        self.limits = limits
        self.board_keys = board_keys
        self.used: dict[str, float] = {}         # node -> used_memory bytes
        self.limit: dict[str, float] = {}        # node -> maxmemory bytes (0: no limit configured)
        self.boards: dict[str, float] = {}       # board id -> bytes of its keys
        self.polls_failed = 0
        meter.create_observable_gauge("podium_redis_used_memory_bytes", callbacks=[self._per_node(self.used)],
                                      description="Redis used_memory per node (INFO memory)")
        meter.create_observable_gauge("podium_redis_maxmemory_bytes", callbacks=[self._per_node(self.limit)],
                                      description="Redis maxmemory per node (0: no limit set)")
        meter.create_observable_gauge("podium_board_memory_bytes", callbacks=[self._per_board],
                                      description="Bytes held by each board's ranking keys (MEMORY USAGE, sampled)")

    @staticmethod
    def _per_node(values: dict[str, float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(v, {"node": node}) for node, v in sorted(values.items())]

        return callback

    def _per_board(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"board": board}) for board, v in sorted(self.boards.items())]

    async def poll(self) -> None:
        info: Any = await self.redis.info("memory")
        # A cluster client answers {node: info} for every node; a single node answers info itself.
        per_node = info if info and all(isinstance(v, dict) for v in info.values()) else {"default": info}
        for node, section in per_node.items():
            self.used[str(node)] = float(section.get("used_memory", 0))
            self.limit[str(node)] = float(section.get("maxmemory", 0))
        if self.board_keys is None:
            return
        boards = await self.board_keys()
        sizes: dict[str, float] = {}
        for board in sorted(boards)[: self.limits.board_memory_boards_max]:
            total = 0
            for key in boards[board]:
                total += int(await self.redis.memory_usage(key, samples=self.limits.board_memory_samples) or 0)
            sizes[board] = float(total)
        self.boards = sizes

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until `stop`; a failed poll keeps the last reading (a scrape still answers)."""
        while not stop.is_set():
            try:
                await self.poll()
            except (RedisError, OSError) as exc:
                self.polls_failed += 1
                log.warning("Redis memory poll failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), self.limits.redis_poll_ms / 1000)
            except TimeoutError:
                pass

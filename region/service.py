"""The region's components wired together, with an explicit lifecycle (open → close)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import Unavailable
from podium.fanout import FanOut
from podium.telemetry import Telemetry
from podium.model import Board, RankedEntry
from podium.region.keys import keys_of
from podium.redis_client import AnyRedis, connect
from podium.region.boards import BoardRegistry
from podium.region.ingest import IdempotencyStore, IngestService
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rate_limit import TokenBuckets
from podium.region.read_cache import ReadCache
from podium.region.signing import ReplayGuard
from podium.replication.anti_entropy import AntiEntropy
from podium.replication.shipper import Shipper
from podium.replication.sketch_publisher import SketchPublisher
from podium.replication.transport import HttpShipTransport


@dataclass
class RegionService:
    settings: Settings
    clock: Clock
    redis: AnyRedis
    store: RedisRankStore
    boards: BoardRegistry
    ingest: IngestService
    replay_guard: ReplayGuard
    # Background tasks the service owns: started in open(), cancelled and awaited in close();
    # an exception in one is logged, never lost.
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    shipper: Shipper | None = None
    fanout: FanOut | None = None
    rate_limits: TokenBuckets | None = None
    telemetry: Telemetry = field(default_factory=lambda: Telemetry("podium-region", "local"))
    read_cache: ReadCache | None = None
    anti_entropy: AntiEntropy | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _transports: list[HttpShipTransport | AntiEntropy] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, redis: AnyRedis | None = None) -> RegionService:
        clock = clock or SystemClock()
        if redis is None:
            if not settings.redis_url:
                raise Unavailable("no Redis configured: set REDIS_URL (or run `podium up` for an embedded one)")
            redis = connect(settings.redis_url, cluster=settings.redis_cluster,
                            connections_max=settings.redis_pool_connections_max)
        store = RedisRankStore(redis, settings.ingest)
        boards = BoardRegistry(redis, clock)
        ingest = IngestService(store, boards, IdempotencyStore(redis, settings.ingest.idempotency_ttl_ms),
                               settings.ingest, clock, settings.region)
        service = cls(settings, clock, redis, store, boards, ingest,
                      ReplayGuard(redis, settings.ingest.signature_window_ms),
                      telemetry=Telemetry("podium-region", settings.region))
        lookups = service.telemetry.cache_lookups
        service.read_cache = ReadCache(settings.api.cache_ttl_ms, settings.api.cache_entries_max, clock,
                                       on_lookup=lambda result: lookups.add(1, {"result": result}))
        scores = service.telemetry.scores
        ingest.on_counts = lambda counts: [scores.add(n, {"outcome": k}) for k, n in counts.items() if n]  # type: ignore[func-returns-value]
        if settings.kafka.bootstrap:
            from podium.region.stream_sink_kafka import KafkaSink  # event-log mode: produce, a worker applies

            ingest.sink = KafkaSink(settings, store)
        if settings.api.rate_limit_per_s > 0:
            service.rate_limits = TokenBuckets(redis, settings.api.rate_limit_per_s, settings.api.rate_limit_burst, clock)
        return service

    async def open(self) -> None:
        for declared in self.settings.boards:
            await self.boards.create(Board.from_dict(declared.model_dump()), exist_ok=True)
        await self.boards.refresh()
        if self.ingest.sink is not None:
            await self.ingest.sink.start()
        self.fanout = FanOut(self._read_range, self._read_players, self._read_versions, self.settings.api, self.clock,
                             on_tick_ms=lambda ms: self.telemetry.fanout_tick.record(ms))
        fanout = self.fanout
        self.telemetry.gauge_source("subscriptions", lambda: fanout.subscriptions)
        self.spawn(self.fanout.run(self._stop), "fan-out")
        self._start_replication()

    async def _read_range(self, board_id: str, start: int, count: int) -> list[RankedEntry]:
        return await self.store.range(await self.boards.require(board_id), start, count)

    async def cached_range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        """A page in rank order through the read cache (one Redis read per key per tick)."""
        if self.read_cache is None:
            return await self.store.range(board, start, count)
        return await self.read_cache.get(  # type: ignore[no-any-return]
            ("range", board.id, board.season, start, count), lambda: self.store.range(board, start, count))

    async def _read_players(self, board_id: str, players: list[str]) -> list[RankedEntry | None]:
        return await self.store.players(await self.boards.require(board_id), players)

    async def _read_versions(self, board_ids: list[str]) -> dict[str, str]:
        """The newest change-stream id of each board: a board changed iff it moved."""
        boards = await self.boards.all()
        out = {}
        for board_id in board_ids:
            board = boards.get(board_id)
            if board is None:
                continue
            last = await self.redis.xrevrange(keys_of(board).changes, count=1)
            out[board_id] = f"{board.season}:{last[0][0].decode() if last else '-'}"
        return out

    def _start_replication(self) -> None:
        """Ship changes and sketches to the global tier when one is configured."""
        g, r = self.settings.global_, self.settings.replication
        if not g.url:
            return
        if not r.secret:
            raise Unavailable("global.url is set but replication.secret is not: the global tier would refuse us")
        transport = HttpShipTransport(g.url, r.secret, self.clock, r.request_timeout_ms)
        self.shipper = Shipper(self.redis, self.boards, self.settings.region, transport, self.clock, r)
        sketches = SketchPublisher(self.redis, self.boards, self.settings.region, transport, self.clock, g)
        self.anti_entropy = AntiEntropy(self.redis, self.boards, self.settings.region, g.url, r.secret,
                                        self.clock, r, self.settings.ingest)
        self.spawn(self.shipper.run(self._stop), "replication-shipper")
        self.spawn(sketches.run(self._stop), "sketch-publisher")
        self.spawn(self.anti_entropy.run(self._stop), "anti-entropy")
        self._transports += [transport, self.anti_entropy]

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_failure)
        self.tasks.append(task)
        return task

    async def close(self) -> None:
        self._stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        if self.ingest.sink is not None:
            await self.ingest.sink.close()
        for transport in self._transports:
            await transport.aclose()
        await self.redis.aclose()
        self.telemetry.shutdown()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("podium.region").error("background task %s failed", task.get_name(),
                                                 exc_info=task.exception())

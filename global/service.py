"""The global tier's components and its view of each region (last contact, data lag, staleness)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketches import kll_floats_sketch
from opentelemetry.metrics import Histogram
from podium.global_.last_good_tops import LastGoodTops
from podium.global_.live_reads import RegionReader, decode_session
from podium.global_.merged_store import GlobalStore
from podium.global_.region_directory import RegionDirectory
from podium.global_.region_metrics import (
    convergence_histogram,
    observe_regions,
    rank_error_histogram,
)
from podium.global_.staleness import Feed, FeedReport, RegionFeeds
from podium.global_.trending_service import GlobalTrending
from podium.global_.trending_store_redis import GlobalTrendingStore
from podium.replication.regional_state import resolve, with_change

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import BadUserInput, Unavailable
from podium.fanout import FanOut
from podium.model import Board, Operator, RankedEntry
from podium.ranking import sort_key
from podium.rate_limit import TokenBuckets
from podium.redis_client import AnyRedis, connect
from podium.redis_memory import RedisMemoryProbe
from podium.tasks import Supervisor
from podium.telemetry import Telemetry

log = logging.getLogger("podium.global")

@dataclass
class RegionStatus:
    region: str
    feeds: RegionFeeds = field(default_factory=RegionFeeds)   # data lag per board (see `staleness`)
    last_change_ms: int = 0       # regional commit time of the newest change received
    changes_received: int = 0
    # convergence lag of every change (regional commit -> merged here), as a bounded KLL sketch
    lag_sketch: kll_floats_sketch = field(default_factory=lambda: kll_floats_sketch(200))

    def record_lags(self, lags_ms: Sequence[float]) -> None:
        if lags_ms:
            # one vectorized update per batch: a Python call per change cost 5% of the global
            # tier's CPU during a burst
            self.lag_sketch.update(np.asarray(lags_ms, dtype=np.float32))

    @property
    def last_contact_ms(self) -> int:
        last: int = self.feeds.last_contact_ms
        return last

    def lag_quantiles(self) -> dict[str, float | None]:
        if self.lag_sketch.is_empty():
            return {"p50": None, "p99": None, "max": None}
        return {"p50": self.lag_sketch.get_quantile(0.5), "p99": self.lag_sketch.get_quantile(0.99),
                "max": self.lag_sketch.get_max_value()}


@dataclass
class GlobalService:
    settings: Settings
    clock: Clock
    redis: AnyRedis
    store: GlobalStore
    boards: BoardRegistry
    regions: dict[str, RegionStatus] = field(default_factory=dict)
    reader: RegionReader | None = None
    fanout: FanOut | None = None
    rate_limits: TokenBuckets | None = None   # the same per-client buckets as a region's
    telemetry: Telemetry = field(default_factory=lambda: Telemetry("podium-global", "global"))
    # One circuit breaker per dependency: "redis" (its own) and "region:<name>" per region (live
    # reads and the directory's probes); the directory publishes the regions with their health.
    breakers: Breakers = field(default_factory=lambda: Breakers(SystemClock()))
    # serve-stale for EVENTUAL reads while the global Redis fails (as many boards as a region holds tops of)
    last_good_tops: LastGoodTops = field(default_factory=lambda: LastGoodTops(0))
    directory: RegionDirectory | None = None
    trending: GlobalTrending | None = None      # world-wide trending from the regions' shipped cells
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    convergence_lag: Histogram = field(init=False)
    rank_error_bound: Histogram = field(init=False)

    def __post_init__(self) -> None:
        meter = self.telemetry.provider.get_meter("podium")
        self.convergence_lag = convergence_histogram(meter)
        self.rank_error_bound = rank_error_histogram(meter)
        observe_regions(meter, self)
    # The long-running loops (fan-out, the replication log consumer): restarted with jittered
    # backoff, their state in /readyz and the metrics.
    supervisor: Supervisor = field(default_factory=Supervisor)

    async def open(self) -> None:
        await self.boards.refresh()
        await self._upgrade_boards()
        self.fanout = FanOut(self._read_range, self._read_players, self._read_versions, self.settings.api, self.clock)
        fanout = self.fanout
        self.supervisor.supervise("global-fan-out", lambda: fanout.run(self._stop))
        memory = RedisMemoryProbe(self.redis, self.telemetry.provider.get_meter("podium"), self.settings.metrics)
        self.supervisor.supervise("redis-memory", lambda: memory.run(self._stop))
        directory = self.directory
        if directory is not None and directory.region_urls:
            probe_ms = self.settings.global_.directory_probe_ms
            self.supervisor.supervise("region-directory", lambda: directory.run(self._stop, probe_ms))

    async def _upgrade_boards(self) -> None:
        """Rebuilds merged boards written in an older member encoding before any merge or read
        reaches them (a no-op on boards already marked as current)."""
        for board in (await self.boards.all()).values():
            rewritten = await self.store.upgrade(board)
            if rewritten:
                log.warning("rebuilt merged board %s (season %d) in the current member encoding: %d entries",
                            board.id, board.season, rewritten)

    async def _read_range(self, board_id: str, start: int, count: int) -> list[RankedEntry]:
        page: list[RankedEntry] = await self.store.top(await self.boards.require(board_id), start, count)
        return page

    async def _read_players(self, board_id: str, players: list[str]) -> list[RankedEntry | None]:
        board = await self.boards.require(board_id)
        out: list[RankedEntry | None] = []
        for player in players:
            merged, rank = await self.store.entry(board, player)
            out.append(RankedEntry(rank, player, merged.score, merged.achieved_at_ms) if merged and rank else None)
        return out

    async def _read_versions(self, board_ids: list[str]) -> dict[str, str]:
        boards = await self.boards.all()
        return {b: await self.store.version(boards[b]) for b in board_ids if b in boards}

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> GlobalService:
        clock = clock or SystemClock()
        if not settings.redis_url:
            raise Unavailable("no Redis configured for the global tier: set REDIS_URL")
        breakers = Breakers(clock, settings.breakers)
        redis = connect(settings.redis_url, cluster=settings.redis_cluster,
                        connections_max=settings.redis_pool_connections_max, breakers=breakers, breaker_name="redis")
        g = settings.global_
        reader = RegionReader(g.region_urls, g.strong_timeout_ms, breakers)
        service = cls(settings, clock, redis, GlobalStore(redis, merge_in_redis=g.merge_in_redis), BoardRegistry(redis, clock),
                      reader=reader, telemetry=Telemetry("podium-global", settings.region),
                      supervisor=Supervisor(settings.supervisor),
                      rate_limits=TokenBuckets.from_limits(redis, settings.api, clock), breakers=breakers,
                      directory=RegionDirectory(g.region_urls, breakers, clock, probe_timeout_ms=g.strong_timeout_ms))
        service.telemetry.watch_breakers(breakers)
        service.last_good_tops = LastGoodTops(settings.api.top_snapshot_boards_max)
        service.trending = GlobalTrending(GlobalTrendingStore(redis, settings.trending.global_streams_max),
                                          settings.trending, clock)
        if settings.metrics.spans_dir:
            service.telemetry.write_spans(settings.metrics.spans_dir)
        return service

    def directory_entries(self) -> list[dict[str, Any]]:
        """The published region directory (region, url, health; healthy first)."""
        if self.directory is None:
            return []
        stale = {name: self.is_stale(status) for name, status in self.regions.items()}
        return self.directory.entries(stale)

    def region(self, name: str) -> RegionStatus:
        if name not in self.regions:
            self.regions[name] = RegionStatus(name)
        return self.regions[name]

    def is_stale(self, status: RegionStatus) -> bool:
        stale: bool = status.feeds.is_stale(self.clock.now_ms(), self.settings.global_.stale_after_ms)
        return stale

    def lag_ms(self, status: RegionStatus) -> int:
        lag: int = status.feeds.lag_ms(self.clock.now_ms())
        return lag

    async def feed(self, region: str, board: Board) -> Feed:
        """The (region, board) feed, its merged position loaded from the store on first use (so a
        restarted global tier does not take every region for stale)."""
        feeds = self.region(region).feeds
        if board.id not in feeds.feeds:
            applied = (await self.store.applied(board)).get(region, 0)
            feeds.feed(board.id).merged(applied)
        return feeds.feed(board.id)

    async def observe(self, region: str, reports: dict[str, FeedReport]) -> None:
        """A region's message: it is alive, and here is where its change streams stand."""
        self.region(region).feeds.last_contact_ms = self.clock.now_ms()
        boards = await self.boards.all()
        for board_id, report in reports.items():
            board = boards.get(board_id)
            # a board not created here yet has nothing merged: its feed starts at 0
            feed = await self.feed(region, board) if board is not None else self.region(region).feeds.feed(board_id)
            feed.observe(report)

    async def strong_top(self, board: Board, first: int, allow_stale: bool) -> tuple[list[RankedEntry], bool]:
        """STRONG: merge the regions' live top lists at read time.

        Exact for `best` boards: a player in the global top-n is in the top-n of the region holding
        their best value, so the union of regional top-n lists holds every global top-n entry. Not so
        for `latest` (a player's newest write can be a low score outside its region's top-n while an
        older high one sits in another region's top-n; see tests/replication/test_merge.py) nor for
        counters (a total spread over regions): those merge the live lists with the global tier's
        stored states of the candidates and of its own top-n, so they are exact up to writes that
        are neither replicated yet nor in a region's live top-n."""
        g = self.settings.global_
        if first > g.strong_top_max:
            raise BadUserInput(f"STRONG reads are limited to the top {g.strong_top_max}")
        assert self.reader is not None
        tops, failed = await self.reader.live_tops(board, first)
        if failed:
            if not allow_stale:
                raise Unavailable(f"STRONG read: region(s) {', '.join(failed)} did not answer within "
                                  f"{g.strong_timeout_ms} ms; pass allowStale: true to get the merged state, labelled stale")
            return await self.store.top(board, 0, first), True
        players = sorted({p for rows in tops.values() for p, _, _ in rows})
        if board.operator != Operator.BEST:
            stored_top = await self.store.top(board, 0, first)
            players = sorted(set(players) | {r.player for r in stored_top})
            states = await self.store.states(board, players)
        else:
            states = {p: {} for p in players}
        for region, rows in tops.items():
            for player, score, ts in rows:
                newest = max((v[2] for v in states[player].values()), default=0) + 1
                states[player] = with_change(states[player], region, score, ts, newest)
        values = [(p, v) for p in players if (v := resolve(board.operator, board.order, states[p])) is not None]
        values.sort(key=lambda pv: sort_key(pv[1][0], pv[1][1], pv[0], board.order))
        return [RankedEntry(i + 1, p, v[0], v[1]) for i, (p, v) in enumerate(values[:first])], False

    async def session_value(self, board: Board, player: str, token: str) -> tuple[int, int] | None:
        """SESSION (read-your-writes): the player's value including every write named in their token.
        Waits up to `session_wait_ms` for replication, then reads the lagging region directly."""
        wanted = decode_session(token)
        deadline = self.clock.monotonic() + self.settings.global_.session_wait_ms / 1000
        while True:
            state = (await self.store.states(board, [player]))[player]
            lagging = [r for r, seq in wanted.items() if state.get(r, (0, 0, -1))[2] < seq]
            if not lagging or self.clock.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        assert self.reader is not None
        for region in lagging:
            live = await self.reader.player_entry(region, board, player)
            if live is not None:
                state = with_change(state, region, live[0], live[1], wanted[region])
        resolved: tuple[int, int] | None = resolve(board.operator, board.order, state)
        return resolved

    async def close(self) -> None:
        self._stop.set()
        await self.supervisor.close()
        if self.reader is not None:
            await self.reader.aclose()
        if self.directory is not None:
            await self.directory.aclose()
        await self.redis.aclose()
        self.telemetry.shutdown()

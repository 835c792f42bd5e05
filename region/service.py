"""The region's components wired together, with an explicit lifecycle (open → close).

With history enabled (the default), open() also: opens the warm store, puts back board definitions
Redis lost, starts the history writer and the snapshot scheduler, and rebuilds (in the background,
reads served as REBUILDING meanwhile) every board found empty in Redis but present in the warm store.
close() stops them in reverse order, draining the history writer (bounded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from podium.region.admin import BoardAdmin
from podium.region.history.factory import build_history_store, history_writer, rank_store, snapshot_dir
from podium.region.history.store import HistoryStore, Snapshot
from podium.region.history.writer import HistoryWriter
from podium.region.ingest import IdempotencyStore, IngestService
from podium.region.push_lag import PushLagProbe
from podium.region.rank_store import read_all
from podium.region.rank_store_redis import RedisRankStore
from podium.region.read_cache import ReadCache
from podium.region.recovery import Rebuilder, RebuildReport
from podium.region.region_marks_redis import RedisRegionMarks
from podium.region.snapshots import SnapshotScheduler, archive_season, take_snapshot
from podium.region.top_snapshots import TopSnapshots
from podium.region.trending.live import TrendingFanOut
from podium.region.trending.service import TrendingService
from podium.region.trending.wiring import build_live, build_trending
from podium.replication.anti_entropy import AntiEntropy
from podium.replication.change_feed_redis import RedisChangeFeed
from podium.replication.ship_breaker import BreakerShipTransport
from podium.replication.ship_kafka import KafkaShipTransport
from podium.replication.shipper import Shipper
from podium.replication.shipper_metrics import observe_shipper
from podium.replication.transport import HttpShipTransport, ShipTransport

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import Rebuilding, Unavailable
from podium.fanout import FanOut
from podium.keys import keys_of
from podium.model import Board, RankedEntry
from podium.rate_limit import TokenBuckets
from podium.redis_client import AnyRedis, connect
from podium.redis_memory import RedisMemoryProbe
from podium.signing import ReplayGuard
from podium.tasks import Supervisor
from podium.telemetry import Telemetry

log = logging.getLogger("podium.region")
STANDINGS_CHUNK_ENTRIES = 10_000  # entries per Redis read when a snapshot reads a whole board


@dataclass
class RegionService:
    settings: Settings
    clock: Clock
    redis: AnyRedis
    store: RedisRankStore
    boards: BoardRegistry
    ingest: IngestService
    replay_guard: ReplayGuard
    # One-shot background tasks the service owns (recovery): started in open(), cancelled and
    # awaited in close(); an exception in one is logged, never lost.
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Every long-running loop (fan-out, shipper, sketches, anti-entropy, history writer, snapshots)
    # runs under the supervisor: restarted with jittered backoff, its state in /readyz and metrics.
    supervisor: Supervisor = field(default_factory=Supervisor)
    shipper: Shipper | None = None
    fanout: FanOut | None = None
    rate_limits: TokenBuckets | None = None
    telemetry: Telemetry = field(default_factory=lambda: Telemetry("podium-region", "local"))
    read_cache: ReadCache | None = None
    top_snapshots: TopSnapshots | None = None
    anti_entropy: AntiEntropy | None = None
    # The warm store (None: history disabled) and what feeds and uses it.
    history: HistoryStore | None = None
    history_writer: HistoryWriter | None = None
    snapshots: SnapshotScheduler | None = None
    rebuilder: Rebuilder | None = None
    trending: TrendingService | None = None          # top-K events over time ranges (region/trending)
    trending_live: TrendingFanOut | None = None
    recovered: list[RebuildReport] = field(default_factory=list)
    # One circuit breaker per remote dependency ("redis", ...): state in /readyz and podium_circuit_state.
    breakers: Breakers = field(default_factory=lambda: Breakers(SystemClock()))
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _transports: list[ShipTransport | AntiEntropy] = field(default_factory=list)

    @cached_property
    def marks(self) -> RedisRegionMarks:
        """The data mark and snapshot-tick claims (the adapter: this module never calls Redis for them)."""
        return RedisRegionMarks(self.redis, self.settings.region)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, redis: AnyRedis | None = None) -> RegionService:
        clock = clock or SystemClock()
        breakers = Breakers(clock, settings.breakers)
        if redis is None:
            if not settings.redis_url:
                raise Unavailable("no Redis configured: set REDIS_URL (or run `podium up` for an embedded one)")
            redis = connect(settings.redis_url, cluster=settings.redis_cluster,
                            connections_max=settings.redis_pool_connections_max,
                            breakers=breakers, breaker_name="redis")
        store = rank_store(redis, settings)
        boards = BoardRegistry(redis, clock)
        ingest = IngestService(store, boards, IdempotencyStore(redis, settings.ingest.idempotency_ttl_ms,
                                                                   settings.ingest.idempotency_pending_ms),
                               settings.ingest, clock, settings.region)
        service = cls(settings, clock, redis, store, boards, ingest,
                      ReplayGuard(redis, settings.ingest.signature_window_ms),
                      telemetry=Telemetry("podium-region", settings.region),
                      supervisor=Supervisor(settings.supervisor), breakers=breakers)
        service.telemetry.watch_loops(service.supervisor.report)
        service.telemetry.watch_breakers(breakers)
        if settings.metrics.spans_dir:
            service.telemetry.write_spans(settings.metrics.spans_dir)
        lookups = service.telemetry.cache_lookups
        service.read_cache = ReadCache(settings.api.cache_ttl_ms, settings.api.cache_entries_max, clock,
                                       on_lookup=lambda result: lookups.add(1, {"result": result}))
        scores = service.telemetry.scores

        def count_scores(counts: dict[str, int]) -> None:
            for outcome, n in counts.items():
                if n:
                    scores.add(n, {"outcome": outcome})

        ingest.on_counts = count_scores
        if settings.kafka.bootstrap:
            from podium.region.stream.sink_kafka import KafkaSink  # event-log mode: produce, a worker applies

            ingest.sink = KafkaSink(settings, store)
        service.rate_limits = TokenBuckets.from_limits(redis, settings.api, clock)
        service.top_snapshots = TopSnapshots(service._read_top, service._read_versions, clock,
                                             entries=settings.api.top_snapshot_entries,
                                             boards_max=settings.api.top_snapshot_boards_max)
        store.on_write = service.top_snapshots.drop
        service._build_history()
        service.trending = build_trending(settings, redis, clock)
        return service

    def _build_history(self) -> None:
        history = build_history_store(self.settings)
        if history is None:
            return
        h = self.settings.history
        meter = self.telemetry.provider.get_meter("podium")
        writer = history_writer(self.settings, history, self.redis, self.boards, self.breakers)

        def backlog(options: CallbackOptions) -> list[Observation]:
            return [Observation(writer.backlog_size)]

        meter.create_observable_gauge("podium_history_backlog_entries", callbacks=[backlog],
                                      description="Apply calls whose scores wait for the warm store (as of the last check)")
        self.history, self.history_writer = history, writer
        self.rebuilder = Rebuilder(self.redis, self.store, history, self.boards, self.clock, h,
                                   dedup_window_ms=self.settings.ingest.dedup_window_ms,
                                   flush=lambda: writer.flush(h.close_drain_ms_max / 1000))
        self.boards.on_change = self._board_changed

    async def open(self) -> None:
        if self.history is not None:
            await self.history.open()
        await self._restore_boards()
        await self._upgrade_boards()
        if self.history is not None:
            await self._open_history(self.history)
        await self._mark_data()
        self.supervisor.supervise("redis-data-watch", self._watch_redis_data)
        if self.ingest.sink is not None:
            await self.ingest.sink.start()
        push_lag = PushLagProbe(self._read_versions, self.clock, lambda ms: self.telemetry.push_lag.record(ms),
                                boards_max=self.settings.api.subscriptions_per_process_max)
        self.fanout = FanOut(self._read_range, self._read_players, push_lag, self.settings.api, self.clock,
                             on_tick_ms=lambda ms: self.telemetry.fanout_tick.record(ms),
                             on_delivery=self._record_delivery)
        fanout = self.fanout
        self.telemetry.gauge_source("subscriptions", lambda: fanout.subscriptions)
        self.supervisor.supervise("fan-out", lambda: fanout.run(self._stop))
        memory = RedisMemoryProbe(self.redis, self.telemetry.provider.get_meter("podium"), self.settings.metrics,
                                  self._board_keys)
        self.supervisor.supervise("redis-memory", lambda: memory.run(self._stop))
        if self.trending is not None:
            await self.trending.declare_configured()
            if self.trending.sink is not None:
                await self.trending.sink.start()
            trending_live = self.trending_live = build_live(self.trending, self.settings, self.clock)
            self.supervisor.supervise("trending-fan-out", lambda: trending_live.run(self._stop))
        if self.top_snapshots is not None and self.top_snapshots.enabled:
            top_snapshots = self.top_snapshots
            self.supervisor.supervise("top-snapshots", lambda: top_snapshots.run(self._stop, self.settings.api.tick_ms))
        self._start_replication()

    async def _restore_boards(self) -> None:
        if self.history is not None:
            # Definitions Redis lost come back first, so a declared board keeps its season.
            for board in await self.history.boards():
                if await self.boards.restore(board):
                    log.warning("restored board %s (season %d) from the warm store", board.id, board.season)
        for declared in self.settings.boards:
            await self.boards.create(Board.from_dict(declared.model_dump()), exist_ok=True)
        await self.boards.refresh()

    async def _upgrade_boards(self) -> None:
        """Rewrites boards still in the previous member encoding before this process serves them
        (docs/write-path.md, "Member encoding"); a no-op on boards already in the current one."""
        for board in self.boards.cached().values():
            rewritten = await self.store.upgrade(board)
            if rewritten is not None:
                log.warning("rewrote board %s (season %d) in the current member encoding: %d entries",
                            board.id, board.season, rewritten)

    async def _mark_data(self) -> None:
        await self.marks.mark_data()

    async def _watch_redis_data(self) -> None:
        """Notices a Redis that came back empty (restarted without its AOF, replaced, flushed) while
        this process runs: puts the board definitions back and rebuilds from the warm store, as at
        start-up. A Redis that is down is simply checked again at the next tick."""
        interval_s = self.settings.history.redis_loss_check_ms / 1000
        while not self._stop.is_set():
            try:
                lost = not await self.marks.data_marked()
                if lost:
                    log.error("Redis lost its data: restoring board definitions and rebuilding from the warm store")
                    await self._restore_boards()
                    if self.history is not None and self.settings.history.rebuild_on_start:
                        await self._start_rebuilds()
                    await self._mark_data()
            except Unavailable as exc:
                log.warning("redis data check failed: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    async def _start_rebuilds(self) -> None:
        # Leases are taken before returning: no read sees an empty board as if it were live.
        assert self.rebuilder is not None
        candidates = await self.rebuilder.candidates()
        claimed = await self.rebuilder.claim(candidates)
        held = [b for b in candidates if b not in claimed]
        if claimed or held:
            self.spawn(self._recover(claimed, held), "recovery")

    async def _open_history(self, history: HistoryStore) -> None:
        h = self.settings.history
        for board in self.boards.cached().values():
            await history.save_board(board)   # boards made before history was on, or while it was down
        assert self.history_writer is not None and self.rebuilder is not None
        self.history_writer.start(self.supervisor)
        if h.snapshot_interval_s > 0:
            self.snapshots = SnapshotScheduler(history, self.standings, lambda: sorted(self.boards.cached()),
                                               self.clock, h.snapshot_interval_s, snapshot_dir(self.settings),
                                               claim=self._claim_snapshot_tick)
            self.snapshots.start(self.supervisor)
        if h.rebuild_on_start:
            await self._start_rebuilds()

    async def _recover(self, claimed: dict[str, str], held: list[str]) -> None:
        rebuilder = self.rebuilder
        assert rebuilder is not None
        if claimed:
            self.recovered += await rebuilder.run(sorted(claimed), claimed=claimed)
        if held:
            # Another process holds these: a live rebuilder finishes them; a dead one's lease lapses,
            # and then this process rebuilds whichever is still empty.
            await rebuilder.sleep(rebuilder.leases.lease_ms / 1000)
            still = [b for b in await rebuilder.candidates() if b in held]
            retaken = await rebuilder.claim(still)
            if retaken:
                self.recovered += await rebuilder.run(sorted(retaken), claimed=retaken)

    async def _claim_snapshot_tick(self, now_ms: int) -> bool:
        """One process of the region snapshots each interval (the first to claim it in Redis)."""
        interval_ms = self.settings.history.snapshot_interval_s * 1000
        return await self.marks.claim_snapshot_tick(now_ms // interval_ms, interval_ms)

    async def _board_changed(self, board_id: str, board: Board | None) -> None:
        """Keeps the warm store's board definitions in step (best effort: open() re-syncs them all)."""
        if self.history is None:
            return
        try:
            if board is None:
                await self.history.drop_board(board_id)
            else:
                await self.history.save_board(board)
        except Unavailable as exc:
            logging.getLogger("podium.region").warning("board %s not saved to the warm store: %s", board_id, exc)

    @property
    def admin(self) -> BoardAdmin:
        """The admin front: every admin write, checked by the same rules (region/admin.py)."""
        return BoardAdmin(self.boards, self.store, self.reset_board)

    async def standings(self, board_id: str) -> tuple[int, list[RankedEntry]]:
        """A board's full live standings in rank order, for snapshots (read in bounded chunks)."""
        board = await self.boards.require(board_id)
        if self.boards.rebuilding(board_id):
            raise Rebuilding(board_id)
        return board.season, await read_all(self.store, board, STANDINGS_CHUNK_ENTRIES)

    async def reset_board(self, board_id: str) -> Board:
        """A new season; with history on, the final standings are archived first (a failed archive
        leaves the board as it was)."""
        if self.history is None:
            return await self.boards.next_season(board_id)

        async def next_season(b: str) -> None:
            await self.boards.next_season(b)

        await archive_season(self.history, self.standings, board_id, self.clock.now_ms(),
                             snapshot_dir(self.settings), next_season)
        return await self.boards.require(board_id)

    async def snapshot_now(self, board_id: str) -> Snapshot:
        if self.history is None:
            raise Unavailable("history is disabled in this region")
        snapshot, _path = await take_snapshot(self.history, self.standings, board_id, self.clock.now_ms(),
                                              snapshot_dir(self.settings))
        return snapshot

    async def _read_range(self, board_id: str, start: int, count: int) -> list[RankedEntry]:
        page: list[RankedEntry] = await self.store.range(await self.boards.require(board_id), start, count)
        return page

    async def cached_range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        """A page in rank order through the read cache (one Redis read per key per tick)."""
        if self.read_cache is None:
            page: list[RankedEntry] = await self.store.range(board, start, count)
            return page
        return await self.read_cache.get(  # type: ignore[no-any-return]
            ("range", board.id, board.season, start, count), lambda: self.store.range(board, start, count))

    async def _read_top(self, board: Board, n: int) -> tuple[list[RankedEntry], int]:
        return await self.store.range(board, 0, n), await self.store.count(board)

    async def early_page(self, board: Board, start: int, count: int) -> tuple[list[RankedEntry], int, int] | None:
        """Rows start..start+count-1 (0-based) of the live board from this process's in-memory top,
        with the board's count and the snapshot's asOf (ms); None when the page lies past it."""
        snapshots = self.top_snapshots
        if snapshots is None or not snapshots.covers(start + count):
            return None
        live = await self.boards.require(board.id)
        if board.season != live.season or self.boards.rebuilding(board.id):
            return None
        snapshot = await snapshots.top(board, start + count)
        return snapshot.rows[start:start + count], snapshot.total, snapshot.as_of_ms

    def last_good_top(self, board_id: str, first: int) -> tuple[Board, list[RankedEntry], int, int] | None:
        """Serve-stale: the newest top-`first` of the board's live season this process holds in
        memory (its top snapshot) as (board, rows, count, asOf ms), without any I/O; None when it
        holds none that deep. For reads while Redis is failing, labelled stale by the caller."""
        board = self.boards.cached().get(board_id)
        snapshots = self.top_snapshots
        if board is None or snapshots is None or not snapshots.covers(first):
            return None
        snapshot = snapshots.snapshots.get((board.id, board.season))
        if snapshot is None:
            return None
        return board, snapshot.rows[:first], snapshot.total, snapshot.as_of_ms

    async def _read_players(self, board_id: str, players: list[str]) -> list[RankedEntry | None]:
        board = await self.boards.require(board_id)
        entries: list[RankedEntry | None] = await self.store.players(board, players)
        return entries

    def _record_delivery(self, ms: float, coalesced: int) -> None:
        self.telemetry.push_delivery.record(ms)
        if coalesced:
            self.telemetry.coalesced_frames.add(coalesced)

    async def _read_versions(self, board_ids: list[str]) -> dict[str, str]:
        """The newest change-stream id of each board: a board changed iff it moved."""
        boards = await self.boards.all()
        out = {}
        for board_id in board_ids:
            board = boards.get(board_id)
            if board is None:
                continue
            out[board_id] = f"{board.season}:{await self.store.version(board)}"
        return out

    async def _board_keys(self) -> dict[str, list[str]]:
        """Each board's ranking keys in its current season (what its memory is)."""
        return {b.id: [keys_of(b).zset, keys_of(b).index, keys_of(b).changes] for b in (await self.boards.all()).values()}

    def _start_replication(self) -> None:
        """Ship changes to the global tier when one is configured."""
        g, r = self.settings.global_, self.settings.replication
        if not g.url:
            return
        if not r.secret:
            raise Unavailable("global.url is set but replication.secret is not: the global tier would refuse us")
        transport: ShipTransport
        if r.transport == "kafka":
            transport = KafkaShipTransport(self.settings, r.secret, self.clock)
        else:
            transport = HttpShipTransport(g.url, r.secret, self.clock, r.request_timeout_ms)
        # "global": the global tier (HTTP) or the replication topic (Kafka) as this region sees it
        transport = BreakerShipTransport(transport, self.breakers, "global", r.request_timeout_ms)
        feed = RedisChangeFeed(self.redis, self.boards, self.settings.region, self.settings.ingest.changes_len_max)
        self.shipper = Shipper(feed, self.settings.region, transport, self.clock, r)
        observe_shipper(self.telemetry.provider.get_meter("podium"), self.shipper)
        self._shipper_metrics(self.shipper)
        self.anti_entropy = AntiEntropy(feed, self.settings.region, g.url, r.secret, self.clock, r)
        shipper, anti_entropy = self.shipper, self.anti_entropy
        self.supervisor.supervise("replication-shipper", lambda: shipper.run(self._stop))
        self.supervisor.supervise("anti-entropy", lambda: anti_entropy.run(self._stop))
        self._transports += [transport, self.anti_entropy]

    def _shipper_metrics(self, shipper: Shipper) -> None:
        """Alarms: a batch the global tier refuses even at one change (stuck), and unshipped age."""
        meter = self.telemetry.provider.get_meter("podium")

        def stuck(options: CallbackOptions) -> list[Observation]:
            return [Observation(len(shipper.stats.stuck))]

        def lag(options: CallbackOptions) -> list[Observation]:
            return [Observation(max(shipper.stats.lag_ms.values(), default=0))]

        meter.create_observable_gauge("podium_replication_stuck_boards", callbacks=[stuck],
                                      description="Boards whose replication cannot progress (a change over the receiver's body limit)")
        meter.create_observable_gauge("podium_replication_unshipped_age", callbacks=[lag], unit="ms",
                                      description="Age of the oldest change not yet acknowledged by the global tier")

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
        if self.trending is not None and self.trending.sink is not None:
            await self.trending.sink.close()
        if self.snapshots is not None:
            await self.snapshots.stop()
        if self.history_writer is not None:
            await self.history_writer.close(self.settings.history.close_drain_ms_max / 1000)
        await self.supervisor.close()
        if self.history is not None:
            await self.history.close()
        for transport in self._transports:
            await transport.aclose()
        await self.redis.aclose()
        self.telemetry.shutdown()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("podium.region").error("background task %s failed", task.get_name(),
                                                 exc_info=task.exception())

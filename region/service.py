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
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from podium.region.admin import BoardAdmin
from podium.region.history.backlog_monitor import HistoryBacklogMonitor
from podium.region.history.factory import snapshot_dir
from podium.region.history.store import HistoryStore
from podium.region.history.writer import HistoryWriter
from podium.region.ingest import IngestService
from podium.region.push_lag import PushLagProbe
from podium.region.rank_store_redis import RedisRankStore
from podium.region.reads import LiveReads, RegionReads
from podium.region.recovery import Rebuilder, RebuildReport
from podium.region.region_marks_redis import RedisRegionMarks
from podium.region.snapshots import SnapshotScheduler
from podium.region.trending.live import TrendingFanOut
from podium.region.trending.service import TrendingService
from podium.region.trending.wiring import build_live
from podium.replication.anti_entropy import AntiEntropy
from podium.replication.shipper import Shipper
from podium.replication.shipper_metrics import observe_shipper
from podium.replication.transport import ShipTransport

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock
from podium.config import Settings
from podium.errors import Unavailable
from podium.fanout import FanOut
from podium.model import Board
from podium.rate_limit import TokenBuckets
from podium.redis_client import AnyRedis
from podium.redis_memory import RedisMemoryProbe
from podium.signing import ReplayGuard
from podium.tasks import Supervisor
from podium.telemetry import Telemetry

log = logging.getLogger("podium.region")


@dataclass(frozen=True, slots=True)
class Replication:
    """Shipping to the global tier: the shipper, the anti-entropy repair and their transport."""

    shipper: Shipper
    anti_entropy: AntiEntropy
    transport: ShipTransport


@dataclass
class RegionService:
    """Built by `region/wiring.py` (`build_region`): every field is given, nothing is built here."""

    settings: Settings
    clock: Clock
    redis: AnyRedis                # closed in close(); the contests and notifications rooms build their adapters on it
    store: RedisRankStore
    boards: BoardRegistry
    live: LiveReads                # what the fan-out and the push-lag probe poll
    # The fronts the handlers depend on: reads, score batches, admin writes.
    reads: RegionReads
    ingest: IngestService
    admin: BoardAdmin
    marks: RedisRegionMarks        # the data mark and snapshot-tick claims
    replay_guard: ReplayGuard
    rate_limits: TokenBuckets | None   # None: no per-client limits configured
    memory: RedisMemoryProbe
    telemetry: Telemetry
    # Every long-running loop (fan-out, shipper, anti-entropy, history writer, snapshots) runs under
    # the supervisor: restarted with jittered backoff, its state in /readyz and metrics.
    supervisor: Supervisor
    # One circuit breaker per remote dependency ("redis", ...): state in /readyz and podium_circuit_state.
    breakers: Breakers
    # The warm store (None: history disabled) and what feeds and uses it.
    history: HistoryStore | None = None
    history_writer: HistoryWriter | None = None
    rebuilder: Rebuilder | None = None
    history_backlog: HistoryBacklogMonitor | None = None   # its length and age (/readyz), wherever the writer runs
    trending: TrendingService | None = None          # top-K events over time ranges (region/trending)
    replication: Replication | None = None           # None: no global tier configured
    # Runtime state, made in open().
    fanout: FanOut | None = None
    snapshots: SnapshotScheduler | None = None
    trending_live: TrendingFanOut | None = None
    recovered: list[RebuildReport] = field(default_factory=list)
    # One-shot background tasks the service owns (recovery): started in open(), cancelled and
    # awaited in close(); an exception in one is logged, never lost.
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

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
        push_lag = PushLagProbe(self.live.versions, self.clock, lambda ms: self.telemetry.push_lag.record(ms),
                                boards_max=self.settings.api.subscriptions_per_process_max)
        self.fanout = FanOut(self.live.range, self.live.players, push_lag, self.settings.api, self.clock,
                             on_tick_ms=lambda ms: self.telemetry.fanout_tick.record(ms),
                             on_delivery=self._record_delivery)
        fanout = self.fanout
        self.telemetry.gauge_source("subscriptions", lambda: fanout.subscriptions)
        self.supervisor.supervise("fan-out", lambda: fanout.run(self._stop))
        memory = self.memory
        self.supervisor.supervise("redis-memory", lambda: memory.run(self._stop))
        if self.trending is not None:
            await self.trending.declare_configured()
            if self.trending.sink is not None:
                await self.trending.sink.start()
            trending_live = self.trending_live = build_live(self.trending, self.settings, self.clock)
            self.supervisor.supervise("trending-fan-out", lambda: trending_live.run(self._stop))
            trending_shipper = self.trending.shipper     # to the global tier, when one is configured
            if trending_shipper is not None:
                self.supervisor.supervise("trending-shipper", lambda: trending_shipper.run(self._stop))
        if self.reads.top_snapshots.enabled:
            top_snapshots = self.reads.top_snapshots
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
        assert self.rebuilder is not None
        if self.history_writer is not None:   # None: `podium history-writer` drains it (writer_placement=separate)
            self.history_writer.start(self.supervisor)
        if self.history_backlog is not None:
            self.history_backlog.start(self.supervisor)
        if h.snapshot_interval_s > 0:
            self.snapshots = SnapshotScheduler(history, self.reads.standings, lambda: sorted(self.boards.cached()),
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

    async def board_changed(self, board_id: str, board: Board | None) -> None:
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

    def _record_delivery(self, ms: float, coalesced: int) -> None:
        self.telemetry.push_delivery.record(ms)
        if coalesced:
            self.telemetry.coalesced_frames.add(coalesced)

    def _start_replication(self) -> None:
        """Ship changes to the global tier when one is configured."""
        if self.replication is None:
            return
        shipper, anti_entropy = self.replication.shipper, self.replication.anti_entropy
        observe_shipper(self.telemetry.provider.get_meter("podium"), shipper)
        self._shipper_metrics(shipper)
        self.supervisor.supervise("replication-shipper", lambda: shipper.run(self._stop))
        self.supervisor.supervise("anti-entropy", lambda: anti_entropy.run(self._stop))

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
        if self.history_backlog is not None:
            self.history_backlog.stop()
        await self.supervisor.close()
        if self.history is not None:
            await self.history.close()
        if self.trending is not None and self.trending.shipper is not None:
            await self.trending.shipper.transport.aclose()
        if self.replication is not None:
            await self.replication.transport.aclose()
            await self.replication.anti_entropy.aclose()
        await self.redis.aclose()
        self.telemetry.shutdown()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("podium.region").error("background task %s failed", task.get_name(),
                                                 exc_info=task.exception())

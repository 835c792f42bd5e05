"""The shipper: sends a region's changes to the global tier, in batches, with acknowledgements.

The outbox is each board's change stream in Redis (written by the apply Lua script atomically with
the scores, so no change can be applied without being recorded). The shipper keeps, per stream, the
id of the last entry the global tier acknowledged, in Redis, so it resumes from there after a
restart, and retries with capped exponential backoff while the global tier or the link is down.
Delivery is at-least-once; the global merge is idempotent (see `podium.replication.changes`).

Bounds: each stream is capped by `ingest.changes_len_max`. A link down long enough for the cap to
trim unshipped entries is detected (the stream's first id is past the acknowledged one), alarmed
and counted, and repaired by anti-entropy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from enum import StrEnum

from podium.replication.changes import Change, parse_stream_entry, stream_id_to_seq
from podium.replication.transport import ShipTransport

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import ReplicationSettings
from podium.errors import Unavailable
from podium.keys import keys_of
from podium.redis_client import AnyRedis, stream_entries

log = logging.getLogger("podium.replication.shipper")
HEARTBEAT_INTERVAL_S = 1.0


class ShipperState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"


@dataclass
class ShipperStats:
    batches_sent: int = 0
    changes_sent: int = 0
    failures: int = 0
    overflows: int = 0                     # times unshipped changes were trimmed (anti-entropy repairs)
    lag_ms: dict[str, int] = field(default_factory=dict)   # board -> age of the oldest unshipped change


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Shipper:
    def __init__(
        self,
        redis: AnyRedis,
        boards: BoardRegistry,
        region: str,
        transport: ShipTransport,
        clock: Clock,
        settings: ReplicationSettings,
    ) -> None:
        self.redis = redis
        self.boards = boards
        self.region = region
        self.transport = transport
        self.clock = clock
        self.settings = settings
        self.state = ShipperState.CREATED
        self.stats = ShipperStats()
        self.acked_key = f"prep:{{{region}}}:acked"
        self._paused = False
        self._last_heartbeat = float("-inf")

    def pause(self) -> None:
        """Stop shipping (an operator cutting the link); changes keep accumulating in the outbox."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    async def ship_once(self) -> int:
        """One round over every board: ship at most one batch per board. Returns changes shipped."""
        shipped = 0
        boards = await self.boards.all()
        acked = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self.acked_key)).items()}
        now_ms = self.clock.now_ms()
        for board in boards.values():
            stream = keys_of(board).changes
            position = acked.get(stream, "0-0")
            rows = stream_entries(await self.redis.xrange(stream, min=f"({position}", max="+",
                                                          count=self.settings.ship_batch_max))
            if not rows:
                self.stats.lag_ms.pop(board.id, None)
                continue
            await self._check_overflow(stream, position, rows[0][0])
            oldest_ms = stream_id_to_seq(rows[0][0]) >> 16
            self.stats.lag_ms[board.id] = max(0, now_ms - oldest_ms)
            changes: list[Change] = []
            for stream_id, fields in rows:
                data = fields.get(b"d") or fields.get("d") or b""
                changes += parse_stream_entry(self.region, board.id, board.season, stream_id, data)
            await self.transport.send(self.region, board, changes)
            await self.redis.hset(self.acked_key, stream, _text(rows[-1][0]))
            self.stats.batches_sent += 1
            self.stats.changes_sent += len(changes)
            shipped += len(changes)
        return shipped

    async def update_lag(self) -> None:
        """Age of the oldest unshipped change per board, without shipping (e.g. while paused)."""
        acked = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self.acked_key)).items()}
        now_ms = self.clock.now_ms()
        for board in (await self.boards.all()).values():
            stream = keys_of(board).changes
            rows = stream_entries(await self.redis.xrange(stream, min=f"({acked.get(stream, '0-0')}", max="+",
                                                          count=1))
            if rows:
                self.stats.lag_ms[board.id] = max(0, now_ms - (stream_id_to_seq(rows[0][0]) >> 16))
            else:
                self.stats.lag_ms.pop(board.id, None)

    async def _check_overflow(self, stream: str, position: str, first_unshipped: bytes | str) -> None:
        if position == "0-0":
            return
        first = stream_entries(await self.redis.xrange(stream, count=1))
        if first and stream_id_to_seq(first[0][0]) > stream_id_to_seq(position) and _text(first[0][0]) == _text(first_unshipped):
            # The entry right after the acknowledged one was trimmed: we lost changes to the cap.
            self.stats.overflows += 1
            log.error("replication outbox %s overflowed its cap while the link was down; anti-entropy will repair", stream)

    async def run(self, stop: asyncio.Event) -> None:
        self.state = ShipperState.RUNNING
        backoff_ms = self.settings.ship_interval_ms
        try:
            while not stop.is_set():
                if self._paused:
                    await self.update_lag()
                    await self._wait(stop, self.settings.ship_interval_ms)
                    continue
                try:
                    shipped = await self.ship_once()
                    if shipped == 0:
                        await self._heartbeat_if_due()
                except Unavailable as exc:
                    self.stats.failures += 1
                    self.state = ShipperState.BACKING_OFF
                    backoff_ms = min(self.settings.backoff_ms_max, backoff_ms * 2)
                    log.warning("shipping to the global tier failed (%s); retrying in ~%d ms", exc.message, backoff_ms)
                    await self._wait(stop, backoff_ms * random.uniform(0.5, 1.0))
                    continue
                self.state = ShipperState.RUNNING
                backoff_ms = self.settings.ship_interval_ms
                if shipped == 0:
                    await self._wait(stop, self.settings.ship_interval_ms)
        finally:
            self.state = ShipperState.STOPPED

    async def _heartbeat_if_due(self) -> None:
        """An idle region still tells the global tier it is alive, so its data is not labelled stale."""
        now = self.clock.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_INTERVAL_S:
            await self.transport.heartbeat(self.region)
            self._last_heartbeat = now

    async def _wait(self, stop: asyncio.Event, ms: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), ms / 1000)
        except TimeoutError:
            pass

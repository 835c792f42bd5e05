"""The trending shipper: sends a region's changed bucket cells to the global tier, which answers
world-wide `trending` from them.

Each round claims the cells written since the last one (ship_redis.TrendingOutbox), ships them a
body of at most `ship_cells_max` cells at a time, then reports `as_of`: the time of the claim, so
the global tier knows it holds everything this region counted before then. While the global tier
or the link is down the round fails, the cells stay in the outbox, and the loop retries with
capped, jittered exponential backoff (as the score shipper). A body refused as too large (413)
halves the cells per body; it grows back, doubling, with each acknowledged body."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Protocol

from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.store_redis import StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_wire import ShippedStream, encode

from podium.clock import Clock
from podium.config import TrendingSettings
from podium.errors import PayloadTooLarge, Unavailable

log = logging.getLogger("podium.region.trending.shipper")


class TrendingTransport(Protocol):
    async def send_trending(self, region: str, body: bytes) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class TrendingShipStats:
    bodies_sent: int = 0
    cells_sent: int = 0
    failures: int = 0
    splits: int = 0
    as_of_ms: int = 0        # the last claim the global tier acknowledged in full


def shipped(spec: StreamSpec) -> ShippedStream:
    return ShippedStream(spec.id, spec.dimensions, spec.resolutions, {r: spec.kept(r) for r in spec.resolutions},
                         spec.sketch_lg_size, spec.public_read)


class TrendingShipper:
    def __init__(self, outbox: TrendingOutbox, streams: StreamRegistry, transport: TrendingTransport, region: str,
                 clock: Clock, limits: TrendingSettings) -> None:
        self.outbox = outbox
        self.streams = streams
        self.transport = transport
        self.region = region
        self.clock = clock
        self.limits = limits
        self.stats = TrendingShipStats()
        self._cells_max = limits.ship_cells_max
        self._backfilled: set[str] = set()     # streams whose earlier cells are marked (once per stream)

    async def ship_once(self) -> int:
        """One round: every cell written before its start reaches the global tier. Returns cells shipped."""
        claimed_at = self.clock.now_ms()
        specs = sorted((await self.streams.refresh()).values(), key=lambda s: s.id)
        for spec in specs:
            if spec.id not in self._backfilled:
                await self.outbox.backfill(spec.id)
                self._backfilled.add(spec.id)
            await self.outbox.claim(spec.id)
        sent = 0
        for spec in specs:
            sent += await self._drain(spec)
        await self.transport.send_trending(self.region, encode(self.region, claimed_at,
                                                               [shipped(s) for s in specs], []))
        self.stats.as_of_ms = claimed_at
        return sent

    async def _drain(self, spec: StreamSpec) -> int:
        sent = 0
        while members := await self.outbox.pending(spec.id, self._cells_max):
            cells = await self.outbox.read(spec, members)
            body = encode(self.region, None, [shipped(spec)], cells)
            try:
                await self.transport.send_trending(self.region, body)
            except PayloadTooLarge:
                if len(members) == 1:
                    raise Unavailable(f"stream {spec.id!r}: one cell is over the global tier's body limit") from None
                self._cells_max = max(1, len(members) // 2)
                self.stats.splits += 1
                continue
            await self.outbox.acknowledge(spec.id, members)
            self._cells_max = min(self.limits.ship_cells_max, 2 * self._cells_max)
            self.stats.bodies_sent += 1
            self.stats.cells_sent += len(cells)
            sent += len(cells)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.limits.ship_interval_ms
        backoff = interval
        while not stop.is_set():
            try:
                await self.ship_once()
                backoff = interval
                wait = interval
            except Unavailable as exc:
                self.stats.failures += 1
                backoff = min(self.limits.ship_backoff_ms_max, 2 * backoff)
                wait = int(backoff * random.uniform(0.5, 1.0))
                log.warning("shipping trending cells to the global tier failed (%s); retrying in ~%d ms",
                            exc.message, wait)
            try:
                await asyncio.wait_for(stop.wait(), wait / 1000)
            except TimeoutError:
                pass

"""The trending shipper: sends a region's changed bucket cells to the global tier, which answers
world-wide `trending` from them.

Each round claims the cells written since the last one (ship_redis.TrendingOutbox), ships them a
body of at most `ship_cells_max` cells at a time, then reports `as_of`: the time of the claim, so
the global tier knows it holds everything this region counted before then. While the global tier
or the link is down the round fails, the cells stay in the outbox, and the loop retries with
capped, jittered exponential backoff (as the score shipper). A body refused as too large (413)
halves the cells per body; it grows back, doubling, with each acknowledged body.

Declarations are sent only when new or changed, at most `ship_streams_per_body_max` per body, and
the as-of report names its streams by id. A stream the global tier refuses (past its
`global_streams_max`) is reported (`refused`, a warning) and its cells wait in the outbox; the
round ships every other stream and succeeds. Every reply carries the global store's generation:
when it changes (the global Redis was wiped, or this is another global store) the region marks
all its cells and re-ships them in that same round before its as-of report, so the global answers
equal the regions' again. `ship_repair_interval_ms` adds a periodic repair pass (off at 0) for
partial losses a generation cannot show (an evicted key).

Trending ships over HTTP in Kafka mode too, deliberately: a body is a bucket's whole state
(idempotent, newest wins), so it needs no log's ordering or replay, and one transport keeps one
acknowledgement rule for the outbox."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.store_redis import StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_wire import ShippedStream, encode

from podium.clock import Clock
from podium.config import TrendingSettings
from podium.errors import PayloadTooLarge, Unavailable

log = logging.getLogger("podium.region.trending.shipper")
_T = TypeVar("_T")


class TrendingTransport(Protocol):
    async def send_trending(self, region: str, body: bytes) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


@dataclass
class TrendingShipStats:
    bodies_sent: int = 0
    cells_sent: int = 0
    failures: int = 0
    splits: int = 0
    repairs: int = 0         # rounds that re-shipped every cell (a new global store, or the periodic pass)
    as_of_ms: int = 0        # the last claim the global tier acknowledged in full
    refused: list[str] = field(default_factory=list)     # streams the global tier does not keep (its cap)


def shipped(spec: StreamSpec) -> ShippedStream:
    return ShippedStream(spec.id, spec.dimensions, spec.resolutions, {r: spec.kept(r) for r in spec.resolutions},
                         spec.sketch_lg_size, spec.public_read)


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


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
        self._declared: dict[str, ShippedStream] = {}   # declarations the current global store acknowledged
        self._refused: set[str] = set()
        self._generation: str | None = None    # the global store's, from its last reply
        self._stored_generation: str | None = None    # the one every cell was shipped into (region Redis)
        self._loaded = False
        self._repair_due = False
        self._repaired_at_ms = clock.now_ms()

    async def ship_once(self) -> int:
        """One round: every cell written before its start reaches the global tier. Returns cells shipped."""
        claimed_at = self.clock.now_ms()
        if not self._loaded:
            self._generation = self._stored_generation = await self.outbox.generation()
            self._loaded = True
        specs = sorted((await self.streams.refresh()).values(), key=lambda s: s.id)
        await self._declare(specs)
        generation = self._generation
        shipping = [s for s in specs if s.id in self._declared]
        every = self.limits.ship_repair_interval_ms
        repair = self._repair_due or (every > 0 and claimed_at - self._repaired_at_ms >= every)
        for spec in shipping:
            if repair or spec.id not in self._backfilled:
                await self.outbox.backfill(spec.id, force=repair)
                self._backfilled.add(spec.id)
            await self.outbox.claim(spec.id)
        if repair:       # the marks are in Redis now: a round failing from here ships them later
            self._repair_due, self._repaired_at_ms = False, claimed_at
            self.stats.repairs += 1
        sent = 0
        for spec in shipping:
            sent += await self._drain(spec)
        for ids in _chunks([s.id for s in shipping], self.limits.ship_streams_per_body_max):
            self._observe(await self.transport.send_trending(
                self.region, encode(self.region, claimed_at, [], [], as_of_streams=ids, generation=generation)))
        if generation is not None and self._generation == generation:
            if self._stored_generation != generation:
                await self.outbox.set_generation(generation)
                self._stored_generation = generation
            self.stats.as_of_ms = claimed_at
        return sent

    async def _declare(self, specs: Sequence[StreamSpec]) -> None:
        """Sends the declarations the global store has not acknowledged (at least one body: the
        reply names its generation); again from the start if the generation changes meanwhile."""
        for _attempt in range(2):
            pending = [d for d in map(shipped, specs) if self._declared.get(d.id) != d]
            for chunk in _chunks(pending, self.limits.ship_streams_per_body_max) or [[]]:
                reply = await self.transport.send_trending(self.region, encode(self.region, None, chunk, []))
                if self._observe(reply):
                    break
                refused = set(reply.get("refused") or ())
                for d in chunk:
                    if d.id in refused:
                        self._declared.pop(d.id, None)
                    else:
                        self._declared[d.id] = d
                self._report_refused(refused, {d.id for d in chunk})
            else:
                return

    def _observe(self, reply: dict[str, Any]) -> bool:
        """Notes the reply's generation; True when it changed (then everything is declared and shipped again)."""
        generation = reply.get("generation")
        if not isinstance(generation, str) or not generation:
            raise Unavailable("the global tier's trending reply names no store generation")
        if generation == self._generation:
            return False
        if self._generation is not None:
            log.warning("the global trending store changed (generation %s -> %s); re-shipping every cell",
                        self._generation, generation)
            self._repair_due = True
        self._generation = generation
        self._declared.clear()
        return True

    def _report_refused(self, refused: set[str], asked: set[str]) -> None:
        before = set(self._refused)
        self._refused = (self._refused - asked) | refused
        if self._refused != before:
            self.stats.refused = sorted(self._refused)
            if self._refused - before:
                log.warning("the global tier keeps no more trending streams (trending.global_streams_max); "
                            "not shipped: %s", ", ".join(sorted(self._refused - before)[:20]))

    async def _drain(self, spec: StreamSpec) -> int:
        sent = 0
        while members := await self.outbox.pending(spec.id, self._cells_max):
            cells = await self.outbox.read(spec, members)
            body = encode(self.region, None, [shipped(spec)], cells)
            try:
                self._observe(await self.transport.send_trending(self.region, body))
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

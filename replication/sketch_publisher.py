"""Builds each board's KLL score sketches in a region and ships them to the global tier: the fine
one every `sketch_refresh_ms`, the coarse one every `coarse_sketch_refresh_ms`. A board whose
change stream has not moved since the last build is skipped. The scan reads the sorted set in
bounded chunks."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources

import numpy as np
from datasketches import kll_doubles_sketch
from podium.replication.transport import ShipTransport

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import GlobalSettings
from podium.errors import Unavailable
from podium.keys import keys_of
from podium.model import Board, SortOrder
from podium.redis_client import AnyRedis, stream_entries
from podium.sketches import COARSE_K, FINE_K

log = logging.getLogger("podium.replication.sketches")
SCAN_CHUNK_ENTRIES = 50_000


_SCORES_CHUNK = resources.files("podium").joinpath("lua/scores_chunk.lua").read_text()


async def board_sketches(redis: AnyRedis, board: Board) -> tuple[kll_doubles_sketch, kll_doubles_sketch]:
    fine, coarse = kll_doubles_sketch(FINE_K), kll_doubles_sketch(COARSE_K)
    sign = -1.0 if board.order is SortOrder.DESC else 1.0
    start = 0
    key = keys_of(board).zset
    script = redis.register_script(_SCORES_CHUNK)
    while True:
        raw = await script(keys=[key], args=[start, start + SCAN_CHUNK_ENTRIES - 1])
        scores = np.array(raw.split(b","), dtype=np.float64) if raw else np.empty(0)
        if scores.size:
            scores *= sign
            fine.update(scores)
            coarse.update(scores)
        if scores.size < SCAN_CHUNK_ENTRIES:
            return fine, coarse
        start += SCAN_CHUNK_ENTRIES
        await asyncio.sleep(0)  # let requests through between chunks


class SketchPublisher:
    def __init__(self, redis: AnyRedis, boards: BoardRegistry, region: str, transport: ShipTransport,
                 clock: Clock, settings: GlobalSettings) -> None:
        self.redis = redis
        self.boards = boards
        self.region = region
        self.transport = transport
        self.clock = clock
        self.settings = settings
        self._seen: dict[str, bytes | str | None] = {}
        self._last_coarse_s = float("-inf")
        self.build_s: dict[str, float] = {}

    async def publish_once(self) -> int:
        coarse_due = self.clock.monotonic() - self._last_coarse_s >= self.settings.coarse_sketch_refresh_ms / 1000
        published = 0
        for board in (await self.boards.all()).values():
            last = stream_entries(await self.redis.xrevrange(keys_of(board).changes, count=1))
            marker = last[0][0] if last else None
            if self._seen.get(board.id, b"?") == marker and not coarse_due:
                continue
            started = self.clock.monotonic()
            fine, coarse = await board_sketches(self.redis, board)
            self.build_s[board.id] = self.clock.monotonic() - started
            now = self.clock.now_ms()
            await self.transport.send_sketch(self.region, board, False, now, fine.serialize())
            if coarse_due:
                await self.transport.send_sketch(self.region, board, True, now, coarse.serialize())
            self._seen[board.id] = marker
            published += 1
        if coarse_due:
            self._last_coarse_s = self.clock.monotonic()
        return published

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.publish_once()
            except Unavailable as exc:
                log.warning("publishing sketches failed: %s", exc.message)
            # big boards: wait at least 10x the last build, so sketches never eat more than ~10% CPU
            wait_s = max(self.settings.sketch_refresh_ms / 1000, 10 * max(self.build_s.values(), default=0.0))
            try:
                await asyncio.wait_for(stop.wait(), wait_s)
            except TimeoutError:
                pass

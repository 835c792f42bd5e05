"""Anti-entropy, region side: every `anti_entropy_interval_s`, compare this region's bucket digests
of each board with the global tier's record of them, and re-announce the players of every bucket
that differs (after the global tier lost its Redis, after an outbox overflow, …). Scans are chunked
and bounded; the repair reuses the normal shipping path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources

import httpx
from podium.replication.digest import BUCKETS, bucket_of, differing, digests

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import IngestLimits, ReplicationSettings
from podium.keys import keys_of
from podium.model import Board, SortOrder
from podium.ranking import decode_member, from_zscore
from podium.redis_client import AnyRedis, scored_members
from podium.signing import signed_headers

log = logging.getLogger("podium.replication.anti_entropy")
SCAN_CHUNK_ENTRIES = 10_000
REANNOUNCE_PLAYERS_MAX = 500   # players per Lua call
DIGEST_PATH = "/v1/replicate/digest"


@dataclass
class RepairReport:
    boards_checked: int = 0
    buckets_repaired: int = 0
    players_reannounced: int = 0


async def board_entries(redis: AnyRedis, board: Board) -> AsyncIterator[tuple[str, int, int]]:
    key, start = keys_of(board).zset, 0
    while True:
        rows = scored_members(await redis.zrange(key, start, start + SCAN_CHUNK_ENTRIES - 1, withscores=True))
        for member, zscore in rows:
            ts, player = decode_member(member)
            yield player, from_zscore(zscore, board.order), ts
        if len(rows) < SCAN_CHUNK_ENTRIES:
            return
        start += SCAN_CHUNK_ENTRIES


class AntiEntropy:
    def __init__(self, redis: AnyRedis, boards: BoardRegistry, region: str, global_url: str, secret: str,
                 clock: Clock, settings: ReplicationSettings, limits: IngestLimits) -> None:
        self.redis = redis
        self.boards = boards
        self.region = region
        self.secret = secret
        self.clock = clock
        self.settings = settings
        self.limits = limits
        self.http = httpx.AsyncClient(base_url=global_url, timeout=settings.request_timeout_ms / 1000)
        self._reannounce = redis.register_script(
            resources.files("podium").joinpath("lua/reannounce.lua").read_text())

    async def global_digests(self, board: Board) -> list[str] | None:
        body = b""
        path = f"{DIGEST_PATH}?board={board.id}&region={self.region}&season={board.season}"
        headers = signed_headers(self.region, self.secret, "GET", DIGEST_PATH, self.clock.now_ms(), body)
        response = await self.http.get(path, headers=headers)
        if response.status_code != 200:
            log.warning("digest request for %s failed: %s", board.id, response.status_code)
            return None
        return response.json()["digests"]  # type: ignore[no-any-return]

    async def repair_once(self) -> RepairReport:
        report = RepairReport()
        for board in (await self.boards.all()).values():
            theirs = await self.global_digests(board)
            if theirs is None:
                continue
            rows = [row async for row in board_entries(self.redis, board)]
            bad = set(differing(digests(rows), theirs))
            report.boards_checked += 1
            if not bad:
                continue
            players = [p for p, _, _ in rows if bucket_of(p) in bad]
            k = keys_of(board)
            for i in range(0, len(players), REANNOUNCE_PLAYERS_MAX):
                chunk = players[i : i + REANNOUNCE_PLAYERS_MAX]
                await self._reannounce(keys=[k.zset, k.index, k.changes],
                                       args=["1" if board.order is SortOrder.DESC else "0",
                                             self.limits.changes_len_max, *chunk])
            report.buckets_repaired += len(bad)
            report.players_reannounced += len(players)
            log.warning("anti-entropy: board %s differed in %d of %d buckets; re-announced %d players",
                        board.id, len(bad), BUCKETS, len(players))
        return report

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.anti_entropy_interval_s)
                return
            except TimeoutError:
                pass
            try:
                await self.repair_once()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("anti-entropy round failed: %s", exc)

    async def aclose(self) -> None:
        await self.http.aclose()

"""Anti-entropy, region side: every `anti_entropy_interval_s`, compare this region's bucket digests
of each board with the global tier's record of them, and re-announce the players of every bucket
that differs (after the global tier lost its Redis, after an outbox overflow, …), and announce as
removed every player of such a bucket that the global tier records for this region but the region
no longer holds (a deletion or ban whose change-stream entry was trimmed before it was shipped).
Scans are chunked and bounded; the repair reuses the normal shipping path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from podium.replication.change_feed import ChangeFeed
from podium.replication.digest import BUCKETS, bucket_of, differing, digests

from podium.clock import Clock
from podium.config import ReplicationSettings
from podium.errors import Unavailable
from podium.model import Board
from podium.signing import signed_headers

log = logging.getLogger("podium.replication.anti_entropy")
REANNOUNCE_PLAYERS_MAX = 500   # players per Lua call
DIGEST_PATH = "/v1/replicate/digest"
EMPTY_DIGESTS = digests([])


@dataclass
class RepairReport:
    boards_checked: int = 0
    boards_busy: int = 0          # skipped: unshipped changes pending (compared on a later round)
    buckets_repaired: int = 0
    players_reannounced: int = 0


class AntiEntropy:
    def __init__(self, feed: ChangeFeed, region: str, global_url: str, secret: str,
                 clock: Clock, settings: ReplicationSettings) -> None:
        self.feed = feed
        self.region = region
        self.secret = secret
        self.clock = clock
        self.settings = settings
        self.http = httpx.AsyncClient(base_url=global_url, timeout=settings.request_timeout_ms / 1000)

    async def _get(self, board: Board, extra: dict[str, str]) -> dict[str, Any] | None:
        params = {"board": board.id, "region": self.region, "season": str(board.season), **extra}
        headers = signed_headers(self.region, self.secret, "GET", DIGEST_PATH, self.clock.now_ms(), b"")
        response = await self.http.get(DIGEST_PATH, params=params, headers=headers)
        if response.status_code != 200:
            log.warning("digest request for %s failed: %s", board.id, response.status_code)
            return None
        return response.json()  # type: ignore[no-any-return]

    async def global_digests(self, board: Board) -> list[str] | None:
        doc = await self._get(board, {})
        return None if doc is None else doc["digests"]

    async def global_players(self, board: Board, buckets: Sequence[int]) -> set[str] | None:
        """The players of these buckets the global tier records as held by this region (paged)."""
        out: set[str] = set()
        after = ""
        while True:
            doc = await self._get(board, {"buckets": ",".join(map(str, buckets)), "after": after})
            if doc is None:
                return None
            out.update(doc["players"])
            if not doc["next"]:
                return out
            after = doc["next"]

    async def repair_once(self) -> RepairReport:
        report = RepairReport()
        acked = await self.feed.acked()
        for board in await self.feed.boards():
            if await self.feed.read(board, acked.get(board.id, "0-0"), 1):
                # changes are still on their way: the digests would differ by them alone, and
                # re-announcing whole buckets mid-burst doubles the shipping work. Compared once
                # the board's outbox is drained (a trimmed outbox drains too, then is repaired).
                report.boards_busy += 1
                continue
            theirs = await self.global_digests(board)
            if theirs is None:
                continue
            rows = [row async for row in self.feed.entries(board)]
            bad = set(differing(digests(rows), theirs))
            report.boards_checked += 1
            if not bad:
                continue
            players = [p for p, _, _ in rows if bucket_of(p) in bad]
            # the global tier may hold players this region no longer has: their removal was trimmed
            # from the change stream before it was shipped. Re-announced, they go out as removals.
            held = set(players)
            listed = sorted(b for b in bad if theirs[b] != EMPTY_DIGESTS[b])   # an empty bucket lists nobody
            if listed:
                players += sorted((await self.global_players(board, listed) or set()) - held)
            for i in range(0, len(players), REANNOUNCE_PLAYERS_MAX):
                await self.feed.reannounce(board, players[i : i + REANNOUNCE_PLAYERS_MAX])
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
            except (httpx.HTTPError, OSError, Unavailable) as exc:
                log.warning("anti-entropy round failed: %s", exc)

    async def aclose(self) -> None:
        await self.http.aclose()

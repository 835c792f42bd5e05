"""Rebuilding Redis boards from the warm store (after a Redis loss, or on demand), exactly.

A rebuild of board B (its live season):
1. takes B's lease in `podium:rebuilding` (one rebuilder per board; the lease lapses if the
   rebuilder dies, and is renewed while it works). Every process's board registry reads the
   leases with the boards, so within `refresh_ms` every API process refuses B's writes (503
   REBUILDING, nothing applied, the client retries) and serves B's reads as REBUILDING (the
   last snapshot, labelled stale, or an error) instead of wrong ranks;
2. waits `rebuild_settle_ms` so that every process has seen the lease and its history writer has
   written what it applied before (then flushes this process's own writer);
3. streams every player's history a page of players at a time (`iter_history_pages`: plain
   tuples, no object per row), derives the standing per operator (`standing_entry`, tested equal
   to `current_standing`, the rule apply.lua applies), skips banned players, and builds the board
   aside; one atomic swap puts it in place (`RedisBoardLoader.replace`, the board
   `RankStore.replace` builds, at bulk speed), so no reader ever sees half a board;
4. puts the event ids of recently achieved scores back into the board's dedup set (a Redis loss
   took it): a game server retrying a batch right after the recovery gets `duplicate`, not a
   second increment. Scores submitted long after they were achieved are not covered;
5. releases the lease.

Why refuse writes rather than merge them: a write applied to the live key during the build would be
overwritten by the swap, and merging it afterwards is only safe for some operators (an increment
already in the history would count twice). A rebuild of a 1M-player board takes tens of seconds
(see docs/history.md); a client retries a 503 within that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from podium.region.bulk_load_redis import RedisBoardLoader
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.rebuild_standings import Entry, standing_entry, union_rows
from podium.region.history.store import HistoryRow, HistoryStore, PlayerHistory, ScoreRow, history_key
from podium.region.rank_store import read_all
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rebuild_leases_redis import RebuildLeases
from podium.region.rebuild_state_redis import RedisRebuildState

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import HistorySettings
from podium.errors import Conflict
from podium.model import Board
from podium.redis_client import AnyRedis

log = logging.getLogger("podium.recovery")
RECENT_EVENTS_MAX = 1_000_000   # event ids put back into a board's dedup set by one rebuild
VERIFY_CHUNK_ENTRIES = 10_000   # live entries per Redis read when verifying a board

@dataclass(frozen=True, slots=True)
class RebuildReport:
    board: str
    season: int
    entries: int
    took_ms: int
    backlog_rows: int = 0      # rows taken from the history backlog (accepted, not yet in the warm store)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The live Redis board against the standings the warm store (plus the backlog) gives."""

    board: str
    season: int
    entries: int                               # standings derived from the history
    missing: tuple[str, ...] = ()              # in the history, not on the live board
    extra: tuple[str, ...] = ()                # on the live board, not in the history
    differing: tuple[str, ...] = ()            # both, with another score or time

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differing)


class Rebuilder:
    def __init__(self, redis: AnyRedis, store: RedisRankStore, history: HistoryStore, registry: BoardRegistry,
                 clock: Clock, settings: HistorySettings, *, dedup_window_ms: int,
                 flush: Callable[[], Awaitable[bool]] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store, self.history, self.registry, self.clock = store, history, registry, clock
        self.leases = RebuildLeases(redis, clock, settings.rebuild_lease_ms)
        self.settle_ms = settings.rebuild_settle_ms
        self.dedup_window_ms = dedup_window_ms
        self.flush = flush
        self.sleep = sleep
        self.backlog = RedisHistoryBacklog(redis, "rebuilder", settings.backlog_claim_idle_ms)
        self.state = RedisRebuildState(redis)   # banned players, dedup sets: never Redis directly
        self.loader = RedisBoardLoader(redis)

    async def candidates(self) -> list[str]:
        """Boards whose live season is empty in Redis but has history in the warm store."""
        found = []
        for board in (await self.registry.refresh()).values():
            if await self.store.count(board) == 0 and await self.history.has_scores(history_key(board.id, board.season)):
                found.append(board.id)
        return sorted(found)

    async def claim(self, board_ids: Sequence[str]) -> dict[str, str]:
        """Takes the leases it can (a board another rebuilder holds is left to it); this process's
        registry sees them at once."""
        tokens = {}
        for board_id in board_ids:
            token = await self.leases.acquire(board_id)
            if token is None:
                log.warning("board %s is being rebuilt by another process", board_id)
            else:
                tokens[board_id] = token
        await self.registry.refresh()
        return tokens

    async def run(self, board_ids: Sequence[str], *, season: int | None = None,
                  claimed: dict[str, str] | None = None) -> list[RebuildReport]:
        """Rebuilds the boards (claiming them unless `claimed`); releases every lease it holds."""
        tokens = claimed if claimed is not None else await self.claim(board_ids)
        if claimed is None and len(tokens) < len(board_ids):
            await self._release(tokens)
            busy = sorted(set(board_ids) - set(tokens))
            raise Conflict(f"already being rebuilt: {', '.join(busy)}")
        try:
            if tokens:
                await self.sleep(self.settle_ms / 1000)
            if self.flush is not None:
                await self.flush()
            return [await self._rebuild(board_id, tokens[board_id], season) for board_id in sorted(tokens)]
        finally:
            await self._release(tokens)

    async def _release(self, tokens: dict[str, str]) -> None:
        for board_id, token in tokens.items():
            await self.leases.release(board_id, token)
        await self.registry.refresh()

    async def _rebuild(self, board_id: str, token: str, season: int | None) -> RebuildReport:
        board = await self.registry.require(board_id)
        if season is not None:
            board = dataclasses.replace(board, season=season)
        started = self.clock.monotonic()
        banned = await self.state.banned(board)
        recent: list[str] = []
        pending = await self.backlog.rows(board, history_key(board.id, board.season))
        if self.store.on_write is not None:   # this process's caches of the board
            self.store.on_write(board.id)
        count = await self.loader.replace(board, self._standings(board, token, banned, recent, pending))
        await self._restore_dedup(board, recent)
        took_ms = int((self.clock.monotonic() - started) * 1000)
        log.warning("rebuilt board %s season %d from the warm store (+%d backlog rows): %d entries in %d ms",
                    board.id, board.season, len(pending), count, took_ms)
        return RebuildReport(board.id, board.season, count, took_ms, len(pending))

    async def verify(self, board_id: str) -> VerifyReport:
        """Compares the live board with what a rebuild would give (warm store + backlog). Meant for a
        quiet board (writes landing during the walk show up as differences)."""
        board = await self.registry.require(board_id)
        banned = await self.state.banned(board)
        pending = await self.backlog.rows(board, history_key(board.id, board.season))
        expected = {}
        async for page in self._standings(board, "", banned, [], pending, renew=False):
            for player, score, ts in page:
                expected[player] = (score, ts)
        live = {e.player: (e.score, e.achieved_at_ms) for e in await read_all(self.store, board, VERIFY_CHUNK_ENTRIES)}
        report = VerifyReport(
            board.id, board.season, len(expected),
            missing=tuple(sorted(set(expected) - set(live))), extra=tuple(sorted(set(live) - set(expected))),
            differing=tuple(sorted(p for p in set(expected) & set(live) if expected[p] != live[p])))
        if not report.ok:
            log.error("board %s differs from its warm store: %d missing, %d extra, %d differing", board.id,
                      len(report.missing), len(report.extra), len(report.differing))
        return report

    async def _restore_dedup(self, board: Board, event_ids: list[str]) -> None:
        await self.state.restore_dedup(board, event_ids, self.clock.now_ms() // self.dedup_window_ms,
                                       2 * self.dedup_window_ms)

    async def _standings(self, board: Board, token: str, banned: set[str], recent: list[str],
                         pending: Sequence[ScoreRow], *, renew: bool = True) -> AsyncIterator[list[Entry]]:
        """Each player's standing from the warm store's rows united with the backlog's (`pending`:
        accepted, not yet written; a row in both counts once, same key as the store's), a page of
        players at a time; the event ids of recent rows go to `recent`."""
        renewed = self.clock.now_ms()
        recent_since_ms = renewed - 2 * self.dedup_window_ms
        unwritten: dict[str, list[HistoryRow]] = defaultdict(list)
        for row in pending:
            unwritten[row.player].append((row.achieved_at_ms, row.event_id, row.score))
        operator, order = board.operator, board.order

        async def pages() -> AsyncIterator[list[PlayerHistory]]:
            async for page in self.history.iter_history_pages(history_key(board.id, board.season)):
                if unwritten:
                    page = [(p, union_rows(rows, unwritten.pop(p))) if p in unwritten else (p, rows)
                            for p, rows in page]
                yield page
            if unwritten:
                yield [(p, union_rows([], unwritten[p])) for p in sorted(unwritten)]

        async for page in pages():
            if len(recent) < RECENT_EVENTS_MAX:
                recent += [e for _, rows in page for at, e, _ in rows if at >= recent_since_ms and e]
                del recent[RECENT_EVENTS_MAX:]
            if renew and self.clock.now_ms() - renewed > self.leases.lease_ms // 3:
                if not await self.leases.renew(board.id, token):
                    raise Conflict(f"lost the rebuild lease of {board.id!r} (it lapsed and another rebuilder took it)")
                renewed = self.clock.now_ms()
            if banned:
                yield [standing_entry(operator, order, p, rows) for p, rows in page if p not in banned]
            else:
                yield [standing_entry(operator, order, p, rows) for p, rows in page]

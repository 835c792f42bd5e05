"""The regional GraphQL schema: thin resolvers over the region's read front (`RegionReads`); the
mutations use the admin and ingest fronts (mutations.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import strawberry
from podium.region.api import history as history_api
from podium.region.api.console_schema import ConsoleMutation, ConsoleQuery
from podium.region.api.contests import ContestQueries
from podium.region.api.history_types import BoardSnapshot, RankPointType, ScoreEvent, SnapshotSummary
from podium.region.api.mutations import Mutation
from podium.region.api.subscriptions import Subscription
from podium.region.notifications.graphql_api import NotificationQueries
from podium.region.reads import RegionReads
from podium.region.trending.graphql import TrendingQuery, TrendingSubscription
from strawberry.tools import merge_types
from strawberry.types import Info

from podium.config import ApiLimits
from podium.errors import BadUserInput, NotFound, Rebuilding, Unauthenticated, Unavailable
from podium.gql import typed
from podium.gql.audit import AuditMutations
from podium.gql.auth import authorize_read, caller
from podium.gql.limits import guard_extensions
from podium.gql.scalars import Long, schema_config
from podium.gql.types import (
    Board,
    BoardStatus,
    LeaderboardConnection,
    RankedEntryType,
    decode_cursor,
    entry_rows,
)
from podium.model import Board as BoardModel
from podium.model import RankedEntry, utf8_len


def reads_of(info: Info[Any, Any]) -> RegionReads:
    """The read front: what every resolver of this schema depends on."""
    reads: RegionReads = info.context["service"].reads
    return reads


async def readable_board(info: Info[Any, Any], board_id: str, season: int | None = None, *,
                         live: bool = True) -> BoardModel:
    """The board (optionally an earlier season of it), if the caller may read it. `live` reads of the
    live season fail with REBUILDING while the board is rebuilt, rather than show wrong ranks."""
    service = reads_of(info)
    board: BoardModel = await service.boards.require(board_id)
    await authorize_read(info, board.public_read)
    if season is None or season == board.season:
        if live and service.boards.rebuilding(board.id):
            raise Rebuilding(board.id)
        return board
    if not 0 <= season < board.season:
        raise BadUserInput(f"season must be between 0 and {board.season}")
    return dataclasses.replace(board, season=season)


def wants_fresh(info: Info[Any, Any]) -> bool:
    """`Cache-Control: no-cache` on the request (the global tier's STRONG reads send it): read
    Redis now, not the read cache, so an acknowledged write is always seen."""
    request = info.context.get("request")
    headers = getattr(request, "headers", None)
    return headers is not None and "no-cache" in headers.get("cache-control", "").lower()


def cache_hint(info: Info[Any, Any], board: BoardModel) -> None:
    """Public top-N and pages may be cached by HTTP caches for the board's max-age; anything else
    in the same response (private boards, `me`) makes the whole response private."""
    response = info.context.get("response")
    if response is None or not hasattr(response, "headers"):
        return
    current = response.headers.get("cache-control")
    if not board.public_read or (current is not None and "private" in current):
        response.headers["cache-control"] = "private, no-store"
        return
    age = board.cache_max_age_s
    if current is not None and current.startswith("public, max-age="):
        age = min(age, int(current.removeprefix("public, max-age=")))
    response.headers["cache-control"] = f"public, max-age={age}"


def _page_size(service: RegionReads, first: int) -> int:
    limit = service.settings.api.page_size_max
    if not 1 <= first <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}")
    return first


@strawberry.type(description="A player's standing on boards of this region.")
class Player:
    id: str
    reads: strawberry.Private[dict[tuple[str, int | None], asyncio.Future[RankedEntry | None]]] = \
        dataclasses.field(default_factory=dict)

    @typed.field(description="1-based rank on the board; null when the player has no entry.")
    async def rank(self, info: Info[Any, Any], board: str) -> int | None:
        entry = await self._read(info, board, None)
        return entry.rank if entry else None

    @typed.field(description="The player's score on the board; null when the player has no entry.")
    async def score(self, info: Info[Any, Any], board: str) -> Long | None:
        entry = await self._read(info, board, None)
        return Long(entry.score) if entry else None

    @typed.field(description="The player's full ranked entry on the board.")
    async def entry(self, info: Info[Any, Any], board: str, season: int | None = None) -> RankedEntryType | None:
        service = reads_of(info)
        row = await self._read(info, board, season)
        return RankedEntryType.from_entry(row, service.clock.now_ms()) if row else None

    async def _read(self, info: Info[Any, Any], board: str, season: int | None) -> RankedEntry | None:
        """One Redis call per board and season however many of rank, score and entry the request
        selects: the fields resolve concurrently and share the first one's read."""
        key = (board, season)
        shared = self.reads.get(key)
        if shared is not None:
            row: RankedEntry | None = await asyncio.shield(shared)
            return row
        # The first field reads in place, with no task to schedule (a compiled plan
        # resolves the fields one after another, so there is usually no one to share with).
        shared = self.reads[key] = asyncio.get_running_loop().create_future()
        try:
            b = await readable_board(info, board, season)
            rows: list[RankedEntry | None] = await reads_of(info).store.players(b, [self.id])
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except BaseException as exc:
            shared.set_exception(exc)
            shared.exception()   # retrieved: whoever waits on it reports it, nobody else must
            raise
        shared.set_result(rows[0])
        return rows[0]

    @typed.field(description="The player's accepted scores on the board, newest first (time, then event "
                                  "id), achieved in [since, until) (Unix ms); at most `api.history_page_max` per "
                                  "page: for the next page pass the last row's `cursor` as `after`.")
    async def history(self, info: Info[Any, Any], board: str, since: Long | None = None, until: Long | None = None,
                      first: int = 20, season: int | None = None, after: str | None = None) -> list[ScoreEvent]:
        b = await readable_board(info, board, season, live=False)
        events: list[ScoreEvent] = await history_api.player_history(reads_of(info), b, self.id, since, until,
                                                                    first, after)
        return events


async def _stale_top(info: Info[Any, Any], board_id: str, size: int, cause: Unavailable | None,
                     after: str | None = None) -> LeaderboardConnection:
    """Serve-stale while Redis fails: the top, or the page after `after`, from the last top this
    process read, `stale: true` with its asOf; without it (or a cursor it does not hold), the read
    fails like the store did (503 + Retry-After)."""
    service = reads_of(info)
    held = service.last_good_top(board_id, size, decode_cursor(after) if after is not None else None)
    if held is None:
        if cause is not None:
            raise cause
        raise Unavailable("the rank store (Redis) is failing (circuit open) and this process holds no "
                          "earlier answer for this read", retryAfter=1.0)
    board, rows, total, as_of_ms = held
    await authorize_read(info, board.public_read)
    response = info.context.get("response")
    if response is not None and hasattr(response, "headers"):
        response.headers["cache-control"] = "no-store"     # never cached past the outage
    return LeaderboardConnection.from_entries(rows, total, as_of_ms, size, stale=True)


async def _leaderboard(info: Info[Any, Any], board: str, size: int, after: str | None,
                       season: int | None) -> LeaderboardConnection:
    service = reads_of(info)
    b = await readable_board(info, board, season, live=False)
    now = service.clock.now_ms()
    if b.season == (await service.boards.require(board)).season and service.boards.rebuilding(b.id):
        # Never the half-empty live board: its last snapshot, labelled, and no cursor paging.
        rows, total = ([], 0) if after is not None else await history_api.stale_top(service, b, size)
        return LeaderboardConnection.from_entries(rows, total, now, size, stale=True, status=BoardStatus.REBUILDING)
    fresh = wants_fresh(info)   # STRONG reads from the global tier: past every cache
    early = await service.early_page(b, 0, size) if after is None and not fresh else None
    if early is not None:   # from this process's in-memory top: asOf is the snapshot's (≤ one tick)
        rows, total, now = early
    else:
        if after is not None:
            rows = await service.store.after(b, decode_cursor(after), size)
        elif fresh:
            rows = await service.store.range(b, 0, size)
        else:
            rows = await service.cached_range(b, 0, size)
        total = await service.store.count(b)
    cache_hint(info, b)
    return LeaderboardConnection.from_entries(rows, total, now, size)


# A subclass of Any only when mypy runs on the checkout layout (docs/typing.md).
@strawberry.type
class Query(ContestQueries, TrendingQuery, NotificationQueries):  # type: ignore[misc, unused-ignore]
    @typed.field(description="Every board of this region.")
    async def boards(self, info: Info[Any, Any]) -> list[Board]:
        boards = await reads_of(info).boards.all()
        return [Board.from_model(b) for b in sorted(boards.values(), key=lambda b: b.id)]

    @typed.field(description="The board in rank order, `first` entries after the cursor `after`.")
    async def leaderboard(
        self, info: Info[Any, Any], board: str, first: int = 10, after: str | None = None, season: int | None = None,
    ) -> LeaderboardConnection:
        service = reads_of(info)
        size = _page_size(service, first)
        # Serve-stale covers the live season's pages this process holds (the top and the pages
        # after a cursor inside it), never a STRONG read (no-cache: it must be live).
        may_be_stale = season is None and not wants_fresh(info)
        if may_be_stale and service.breakers.is_open("redis"):
            return await _stale_top(info, board, size, None, after)      # fail fast: no Redis call at all
        try:
            return await _leaderboard(info, board, size, after, season)
        except Unavailable as exc:
            if isinstance(exc, Rebuilding) or not may_be_stale:
                raise
            return await _stale_top(info, board, size, exc, after)

    @typed.field(description="A player, to ask for their rank and score per board.")
    async def player(self, info: Info[Any, Any], id: str) -> Player:
        if not 0 < (utf8_len(id) or 0) <= reads_of(info).settings.ingest.player_id_len_max:
            raise BadUserInput("player id has an invalid length")
        return Player(id=id)

    @typed.field(description="Number of ranked entries on the board.")
    async def count(self, info: Info[Any, Any], board: str, season: int | None = None) -> int:
        service = reads_of(info)
        count: int = await service.store.count(await readable_board(info, board, season))
        return count

    @typed.field(description="Ranks fromRank..toRank (inclusive, 1-based) of the board.")
    async def page(self, info: Info[Any, Any], board: str, from_rank: int, to_rank: int,
                   season: int | None = None) -> list[RankedEntryType]:
        service = reads_of(info)
        size = to_rank - from_rank + 1
        if from_rank < 1 or size < 1:
            raise BadUserInput("fromRank must be >= 1 and toRank >= fromRank")
        _page_size(service, size)
        b = await readable_board(info, board, season)
        cache_hint(info, b)
        early = await service.early_page(b, from_rank - 1, size)
        if early is not None:
            rows, _total, as_of_ms = early
            return entry_rows(rows, as_of_ms)   # type: ignore[return-value]   # a list, built if iterated
        now = service.clock.now_ms()
        return entry_rows(await service.cached_range(b, from_rank - 1, size), now)  # type: ignore[return-value]

    @typed.field(description="A player's neighbourhood: up to `above` entries above and `below` below, "
                             "fewer at either end of the board; empty when the player has no entry.")
    async def around(self, info: Info[Any, Any], board: str, player: str, above: int = 5, below: int = 5,
                     season: int | None = None) -> list[RankedEntryType]:
        service = reads_of(info)
        limit = service.settings.api.around_max
        if not (0 <= above <= limit and 0 <= below <= limit):
            raise BadUserInput(f"above and below must be between 0 and {limit}")
        b = await readable_board(info, board, season)
        now = service.clock.now_ms()
        return entry_rows(await service.store.around(b, player, above, below), now)  # type: ignore[return-value]

    @typed.field(description="Several players' entries at once (a friends list); null for players "
                             "without an entry, in the order asked.")
    async def players(self, info: Info[Any, Any], ids: list[str], board: str,
                      season: int | None = None) -> list[RankedEntryType | None]:
        service = reads_of(info)
        limit = service.settings.api.players_batch_max
        if not 1 <= len(ids) <= limit:
            raise BadUserInput(f"ids must hold 1 to {limit} player ids")
        if any(not 0 < (utf8_len(i) or 0) <= service.settings.ingest.player_id_len_max for i in ids):
            raise BadUserInput("player id has an invalid length")
        b = await readable_board(info, board, season)
        now = service.clock.now_ms()
        return [RankedEntryType.from_entry(r, now) if r else None for r in await service.store.players(b, ids)]

    @typed.field(description="A player's rank and score in each stored snapshot of the board, newest "
                             "first, taken in [since, until) (Unix ms); at most `api.history_page_max`. "
                             "Next page: pass the last point's `cursor` as `after`.")
    async def rank_history(self, info: Info[Any, Any], board: str, player: str, since: Long | None = None,
                           until: Long | None = None, first: int = 20, after: str | None = None) -> list[RankPointType]:
        b = await readable_board(info, board, live=False)
        points: list[RankPointType] = await history_api.rank_history(reads_of(info), b, player, since, until,
                                                                     first, after)
        return points

    @typed.field(description="The board's stored snapshots (periodic and season ends), newest first. "
                             "Next page: pass the last summary's `cursor` as `after`.")
    async def snapshots(self, info: Info[Any, Any], board: str, first: int = 20,
                        after: str | None = None) -> list[SnapshotSummary]:
        b = await readable_board(info, board, live=False)
        summaries: list[SnapshotSummary] = await history_api.snapshot_list(reads_of(info), b, first, after)
        return summaries

    @typed.field(description="Ranks fromRank..toRank of a stored snapshot: the one taken at `takenAt`, "
                             "else the newest of `season` (a past season's final standings), else the "
                             "newest. Null when there is none.")
    async def snapshot(self, info: Info[Any, Any], board: str, from_rank: int = 1, to_rank: int = 10,
                       season: int | None = None, taken_at: Long | None = None) -> BoardSnapshot | None:
        b = await readable_board(info, board, live=False)
        return await history_api.snapshot(reads_of(info), b, season, taken_at, from_rank, to_rank)

    @typed.field(description="The calling player (from their token).")
    async def me(self, info: Info[Any, Any]) -> Player:
        who = await caller(info)
        if who.player is None:
            raise Unauthenticated("me needs a player token: 'Authorization: Bearer <jwt>'")
        response = info.context.get("response")
        if response is not None and hasattr(response, "headers"):
            response.headers["cache-control"] = "private, no-store"
        return Player(id=who.player)


def build_schema(limits: ApiLimits | None = None) -> strawberry.Schema:
    """The regional schema with its guards: depth, aliases, tokens and cost bounded; introspection
    switchable off (production)."""
    extensions = [*guard_extensions(limits or ApiLimits()), AuditMutations]
    subscription = strawberry.type(type("Subscription", (Subscription, TrendingSubscription), {}))
    return strawberry.Schema(query=merge_types("Query", (Query, ConsoleQuery)),
                             mutation=merge_types("Mutation", (Mutation, ConsoleMutation)), subscription=subscription,
                             extensions=extensions,
                             config=schema_config())


__all__ = ["NotFound", "build_schema"]

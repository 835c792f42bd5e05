"""The global GraphQL schema: the same shapes as a region's (shared Strawberry types), scope GLOBAL,
every rank labelled with its precision, error bound and as-of time."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from podium.global_.notifications_graphql import GlobalNotificationMutations, GlobalNotificationQueries
from podium.global_.precision import Tiers, counted
from podium.global_.service import GlobalService
from podium.global_.trending_graphql import GlobalTrendingQuery, GlobalTrendingSubscription
from strawberry.types import Info

from podium.config import ApiLimits
from podium.errors import BadUserInput, NotFound, Unavailable
from podium.gql import typed
from podium.gql.auth import authorize_player, authorize_read
from podium.gql.errors import as_graphql_errors
from podium.gql.limits import guard_extensions
from podium.gql.live import RankChanged, TopChanged
from podium.gql.live_fast import deliver
from podium.gql.scalars import Long, schema_config
from podium.gql.types import Board, Consistency, LeaderboardConnection, Precision, RankedEntryType, as_of
from podium.model import Board as Board_
from podium.model import RankedEntry, utf8_len


def service_of(info: Info[Any, Any]) -> GlobalService:
    service: GlobalService = info.context["service"]
    return service


async def readable_board(info: Info[Any, Any], board_id: str) -> Board_:
    """The board, if the caller may read it: the region's rule (public, or any valid token)."""
    b: Board_ = await service_of(info).boards.require(board_id)
    await authorize_read(info, b.public_read)
    return b


@strawberry.type(description="The global tier's view of one region.")
class RegionReplication:
    region: str
    last_contact: datetime
    stale: bool
    lag_ms: int = strawberry.field(description="Age of the oldest change the region acknowledged that the global "
                                               "tier has not merged yet (0 when none).")
    changes_received: int


@strawberry.type(description="One region of the region directory, with its health as the global tier sees it.")
class DirectoryRegion:
    region: str
    url: str
    healthy: bool = strawberry.field(description="Its circuit breaker is closed and its last /readyz probe answered ready.")
    circuit: str = strawberry.field(description="The global tier's breaker for the region: closed, half_open or open.")
    checked_at: datetime | None = strawberry.field(description="When it was last probed.")
    replication_stale: bool | None = strawberry.field(
        description="Its changes reach the global tier late (null: it never shipped any).")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DirectoryRegion:
        return cls(region=row["region"], url=row["url"], healthy=row["healthy"], circuit=row["circuit"],
                   checked_at=as_of(row["checkedMs"]) if row["checkedMs"] is not None else None,
                   replication_stale=row["replicationStale"])


@strawberry.type(description="A player's merged global entry.")
class GlobalPlayer:
    id: str

    @typed.field(description="The player's global rank entry on the board, with its precision. "
                             "With SESSION consistency, pass the `session` token returned by the region.")
    async def entry(
        self, info: Info[Any, Any], board: str, consistency: Consistency = Consistency.EVENTUAL,
        session: str | None = None,
    ) -> RankedEntryType | None:
        service = service_of(info)
        b = await readable_board(info, board)
        now = service.clock.now_ms()
        if consistency is Consistency.SESSION:
            if not session:
                raise BadUserInput("SESSION consistency needs the session token of the player's last write")
            value = await service.session_value(b, self.id, session)
            if value is None:
                return None
            score, ts = value
            rank: int | None = await service.store.rank_of(b, self.id, score, ts)
        else:
            merged, rank = await service.store.entry(b, self.id)
            if merged is None:
                return None
            score, ts = merged.score, merged.achieved_at_ms
        if rank is None:
            return None
        return labelled(service, RankedEntry(rank, self.id, score, ts), now)

    @typed.field(description="Each region's contribution to the merged value.")
    async def contributions(self, info: Info[Any, Any], board: str) -> list[Contribution]:
        service = service_of(info)
        merged, _ = await service.store.entry(await readable_board(info, board), self.id)
        if merged is None:
            return []
        return [Contribution(region=r, score=Long(v), version=Long(merged.versions[r]))
                for r, v in sorted(merged.contributions.items())]


def labelled(service: GlobalService, entry: RankedEntry, now_ms: int) -> RankedEntryType:
    """Every rank is counted exactly in the merged set; the label is its documented tier."""
    label = counted(entry.rank, now_ms, Tiers.from_settings(service.settings.global_))
    service.rank_error_bound.record(label.error_bound, {"precision": label.precision.value})
    return RankedEntryType.from_entry(entry, label.as_of_ms, precision=Precision(label.precision.value),
                                      error_bound=label.error_bound)


@strawberry.type
class Contribution:
    region: str
    score: Long
    version: Long = strawberry.field(description="The region's sequence number: its version-vector component.")


async def _held_page(info: Info[Any, Any], board_id: str, offset: int, first: int,
                     cause: Unavailable | None) -> LeaderboardConnection:
    """Serve-stale while the global Redis fails: the page from the board's last good top
    (`stale: true`, its asOf, never cached); without it, 503 + Retry-After like the store."""
    service = service_of(info)
    held = service.last_good_tops.page(board_id, offset, first)
    if held is None:
        if cause is not None:
            raise cause
        raise Unavailable("the global tier's Redis is failing (circuit open) and this process holds no "
                          "earlier answer for this page", retryAfter=1.0)
    top, rows = held
    await authorize_read(info, top.board.public_read)
    response = info.context.get("response")
    if response is not None and hasattr(response, "headers"):
        response.headers["cache-control"] = "no-store"     # never cached past the outage
    page = LeaderboardConnection.from_entries(rows, top.total, top.as_of_ms, first, stale=True)
    page.page_info.has_next_page = page.page_info.has_next_page and offset + first < service.settings.global_.top_k
    return page


@strawberry.type
class Query(GlobalTrendingQuery, GlobalNotificationQueries):
    @typed.field(description="Every board the global tier has heard of.")
    async def boards(self, info: Info[Any, Any]) -> list[Board]:
        boards = await service_of(info).boards.all()
        return [Board.from_model(b) for b in sorted(boards.values(), key=lambda b: b.id)]

    @typed.field(description="The merged world leaderboard; ranks 1..K are EXACT. STRONG merges the "
                             "regions' live top lists (top <= 100); allowStale returns the merged state, "
                             "labelled stale, when a region does not answer in time.")
    async def leaderboard(
        self, info: Info[Any, Any], board: str, first: int = 10, offset: int = 0,
        consistency: Consistency = Consistency.EVENTUAL, allow_stale: bool = False,
    ) -> LeaderboardConnection:
        service = service_of(info)
        top_k = service.settings.global_.top_k
        limit = min(service.settings.api.page_size_max, top_k)
        if not 1 <= first <= limit or offset < 0 or offset + first > top_k:
            raise BadUserInput(f"the exact global board holds ranks 1..{top_k}; first must be 1..{limit}")
        if consistency is Consistency.STRONG:
            if offset:
                raise BadUserInput("STRONG reads start at rank 1 (offset must be 0)")
            b = await readable_board(info, board)
            rows, stale = await service.strong_top(b, first, allow_stale)
            total = await service.store.count(b)
            now = service.clock.now_ms()
        elif service.breakers.is_open("redis"):
            return await _held_page(info, board, offset, first, None)   # fail fast: no Redis call at all
        else:
            try:
                b = await readable_board(info, board)
                rows = await service.store.top(b, offset, first)
                total = await service.store.count(b)
            except Unavailable as exc:
                return await _held_page(info, board, offset, first, exc)
            now = service.clock.now_ms()
            service.last_good_tops.remember(b, offset, rows, total, now)
            stale = any(service.is_stale(s) for s in service.regions.values())
        page = LeaderboardConnection.from_entries(rows, total, now, first, stale=stale)
        # pages end at rank K: a next page past it would be refused
        page.page_info.has_next_page = page.page_info.has_next_page and offset + first < top_k
        return page

    @typed.field(description="A player's neighbourhood on the merged global board; each rank labelled "
                              "with its tier (EXACT up to K).")
    async def around(self, info: Info[Any, Any], board: str, player: str, above: int = 5,
                     below: int = 5) -> list[RankedEntryType]:
        service = service_of(info)
        limit = service.settings.api.around_max
        if not (0 <= above <= limit and 0 <= below <= limit):
            raise BadUserInput(f"above and below must be between 0 and {limit}")
        b = await readable_board(info, board)
        _, rank = await service.store.entry(b, player)
        if rank is None:
            raise NotFound(f"{player!r} has no entry on the global board {board!r}")
        start = max(0, rank - 1 - above)
        rows = await service.store.top(b, start, rank - start + below)
        now = service.clock.now_ms()
        return [labelled(service, r, now) for r in rows]

    @typed.field(description="A player, to ask for their merged global entry.")
    async def player(self, info: Info[Any, Any], id: str) -> GlobalPlayer:
        if not 0 < (utf8_len(id) or 0) <= service_of(info).settings.ingest.player_id_len_max:
            raise BadUserInput("player id has an invalid length")
        return GlobalPlayer(id=id)

    @typed.field(description="The region directory: every region's URL and health, healthy regions first "
                             "(the order a game server should try them).")
    async def region_directory(self, info: Info[Any, Any]) -> list[DirectoryRegion]:
        return [DirectoryRegion.from_row(row) for row in service_of(info).directory_entries()]

    @typed.field(description="Replication status of every region: lag, last contact, staleness.")
    async def regions(self, info: Info[Any, Any]) -> list[RegionReplication]:
        service = service_of(info)
        return [
            RegionReplication(region=s.region, last_contact=as_of(s.last_contact_ms), stale=service.is_stale(s),
                              lag_ms=service.lag_ms(s), changes_received=s.changes_received)
            for s in sorted(service.regions.values(), key=lambda s: s.region)
        ]


@strawberry.type
class Subscription(GlobalTrendingSubscription):
    @typed.subscription(description="The global top-n (n <= K, EXACT): the full top first, then only "
                                    "changes, coalesced per tick.")
    async def top_changed(self, info: Info[Any, Any], board: str, n: int = 10) -> AsyncGenerator[TopChanged, None]:
        service = service_of(info)
        with as_graphql_errors():
            b = await service.boards.require(board)
            await authorize_read(info, b.public_read)
            assert service.fanout is not None
            updates = service.fanout.subscribe_top(board, n)
            async for message in deliver(info, updates, TopChanged.from_update, service.fanout.payloads, service.fanout):
                yield message  # type: ignore[misc]

    @typed.subscription(description="A player's global rank within the exact top-K.")
    async def rank_changed(self, info: Info[Any, Any], board: str, player: str) -> AsyncGenerator[RankChanged, None]:
        service = service_of(info)
        with as_graphql_errors():
            await authorize_player(info, player)   # as on a region: a player's own token, or an admin key
            await service.boards.require(board)
            assert service.fanout is not None
            updates = service.fanout.subscribe_rank(board, player)
            async for message in deliver(info, updates, RankChanged.from_update, service.fanout.payloads, service.fanout):
                yield message  # type: ignore[misc]


def build_global_schema(limits: ApiLimits | None = None) -> strawberry.Schema:
    """The global schema, with the same guards as a region's (depth, aliases, tokens, cost)."""
    return strawberry.Schema(query=Query, mutation=GlobalNotificationMutations, subscription=Subscription, extensions=guard_extensions(limits or ApiLimits()),
                             config=schema_config())

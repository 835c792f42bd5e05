"""The regional GraphQL schema: thin resolvers over the RegionService."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from podium.errors import BadUserInput, NotFound
from podium.gql.errors import ErrorCodes
from podium.gql.scalars import Long, schema_config
from podium.gql.types import Board, LeaderboardConnection, RankedEntryType, decode_cursor
from podium.region.api.subscriptions import Subscription
from podium.region.service import RegionService


def service_of(info: Info[Any, Any]) -> RegionService:
    return info.context["service"]  # type: ignore[no-any-return]


def _page_size(service: RegionService, first: int) -> int:
    limit = service.settings.api.page_size_max
    if not 1 <= first <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}")
    return first


@strawberry.type(description="A player's standing on boards of this region.")
class Player:
    id: str

    @strawberry.field(description="1-based rank on the board; null when the player has no entry.")
    async def rank(self, info: Info[Any, Any], board: str) -> int | None:
        entry = await self.entry(info, board)
        return entry.rank if entry else None

    @strawberry.field(description="The player's score on the board; null when the player has no entry.")
    async def score(self, info: Info[Any, Any], board: str) -> Long | None:
        entry = await self.entry(info, board)
        return entry.score if entry else None

    @strawberry.field(description="The player's full ranked entry on the board.")
    async def entry(self, info: Info[Any, Any], board: str) -> RankedEntryType | None:
        service = service_of(info)
        b = await service.boards.require(board)
        [row] = await service.store.players(b, [self.id])
        return RankedEntryType.from_entry(row, service.clock.now_ms()) if row else None


@strawberry.type
class Query:
    @strawberry.field(description="Every board of this region.")
    async def boards(self, info: Info[Any, Any]) -> list[Board]:
        boards = await service_of(info).boards.all()
        return [Board.from_model(b) for b in sorted(boards.values(), key=lambda b: b.id)]

    @strawberry.field(description="The board in rank order, `first` entries after the cursor `after`.")
    async def leaderboard(
        self, info: Info[Any, Any], board: str, first: int = 10, after: str | None = None
    ) -> LeaderboardConnection:
        service = service_of(info)
        size = _page_size(service, first)
        b = await service.boards.require(board)
        rows = await (service.store.after(b, decode_cursor(after), size) if after else service.store.range(b, 0, size))
        total = await service.store.count(b)
        return LeaderboardConnection.from_entries(rows, total, service.clock.now_ms(), size)

    @strawberry.field(description="A player, to ask for their rank and score per board.")
    async def player(self, info: Info[Any, Any], id: str) -> Player:  # noqa: A002 - GraphQL argument name
        if not id or len(id) > service_of(info).settings.ingest.player_id_len_max:
            raise BadUserInput("player id has an invalid length")
        return Player(id=id)

    @strawberry.field(description="Number of ranked entries on the board.")
    async def count(self, info: Info[Any, Any], board: str) -> int:
        service = service_of(info)
        return await service.store.count(await service.boards.require(board))


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, subscription=Subscription, extensions=[ErrorCodes], config=schema_config())


__all__ = ["NotFound", "build_schema"]

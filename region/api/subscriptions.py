"""Regional subscriptions: thin resolvers over the process's fan-out hub."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.types import Info

from podium.gql.errors import as_graphql_errors
from podium.region.api.auth import authorize_player, authorize_read
from podium.gql.live import RankChanged, TopChanged


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The top-n of a board: first the full top, then only changes, "
                                         "coalesced per tick.")
    async def top_changed(self, info: Info[Any, Any], board: str, n: int = 10) -> AsyncGenerator[TopChanged, None]:
        service = info.context["service"]
        with as_graphql_errors():
            b = await service.boards.require(board)
            await authorize_read(info, b.public_read)
            async for update in service.fanout.subscribe_top(board, n):
                yield TopChanged.from_update(update)

    @strawberry.subscription(description="A player's rank and score on a board, with who overtook them.")
    async def rank_changed(self, info: Info[Any, Any], board: str, player: str) -> AsyncGenerator[RankChanged, None]:
        service = info.context["service"]
        with as_graphql_errors():
            await authorize_player(info, player)
            await service.boards.require(board)
            async for update in service.fanout.subscribe_rank(board, player):
                yield RankChanged.from_update(update)

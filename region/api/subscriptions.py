"""Regional subscriptions: thin resolvers over the process's fan-out hub."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from podium.region.api.contests import ContestSubscriptions
from podium.region.notifications.graphql_api import NotificationSubscriptions
from strawberry.types import Info

from podium.gql import typed
from podium.gql.auth import authorize_player, authorize_read
from podium.gql.errors import as_graphql_errors
from podium.gql.live import RankChanged, TopChanged
from podium.gql.live_fast import deliver


@strawberry.type
class Subscription(ContestSubscriptions, NotificationSubscriptions):  # type: ignore[misc, unused-ignore]  # Any on the checkout layout
    @typed.subscription(description="The top-n of a board: first the full top, then only changes, "
                                    "coalesced per tick.")
    async def top_changed(self, info: Info[Any, Any], board: str, n: int = 10) -> AsyncGenerator[TopChanged, None]:
        service = info.context["service"]
        with as_graphql_errors():
            b = await service.boards.require(board)
            await authorize_read(info, b.public_read)
            updates = service.fanout.subscribe_top(board, n)
            async for message in deliver(info, updates, TopChanged.from_update, service.fanout.payloads, service.fanout):
                yield message  # type: ignore[misc]

    @typed.subscription(description="A player's rank and score on a board, with who overtook them.")
    async def rank_changed(self, info: Info[Any, Any], board: str, player: str) -> AsyncGenerator[RankChanged, None]:
        service = info.context["service"]
        with as_graphql_errors():
            await authorize_player(info, player)
            await service.boards.require(board)
            updates = service.fanout.subscribe_rank(board, player)
            async for message in deliver(info, updates, RankChanged.from_update, service.fanout.payloads, service.fanout):
                yield message  # type: ignore[misc]

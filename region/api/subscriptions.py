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
from podium.gql.live_direct import Opened
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


class _ContextOnly:
    """What the authorization helpers read of a resolver's `info`: its context."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


async def open_top_changed(context: Any, arguments: dict[str, Any]) -> Opened:
    """`topChanged` started as a push sink (podium.gql.live_direct): the resolver's checks, then
    one subscriber counted by the fan-out."""
    service = context["service"]
    b = await service.boards.require(arguments["board"])
    await authorize_read(_ContextOnly(context), b.public_read)   # type: ignore[arg-type]
    held = await service.fanout.open_top(arguments["board"], arguments["n"])
    return Opened(held, service.fanout, TopChanged.from_update, service.fanout.payloads)


async def open_rank_changed(context: Any, arguments: dict[str, Any]) -> Opened:
    """`rankChanged` started as a push sink, as `open_top_changed`."""
    service = context["service"]
    await authorize_player(_ContextOnly(context), arguments["player"])   # type: ignore[arg-type]
    await service.boards.require(arguments["board"])
    held = await service.fanout.open_rank(arguments["board"], arguments["player"])
    return Opened(held, service.fanout, RankChanged.from_update, service.fanout.payloads)


LIVE_OPENERS = {"topChanged": open_top_changed, "rankChanged": open_rank_changed}

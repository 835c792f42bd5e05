"""GraphQL front of world-wide trending on the global tier: the `trending` query and the
`trendingChanged` subscription, mixed into the global Query and Subscription types (thin resolvers
over GlobalTrending and its fan-out, global/trending_live.py). The answer has the region's shape, plus
each region's as-of time; its precision is what the global tier could prove (EXACT asked, but a
region shipped only the top of a bucket that could change the answer: APPROXIMATE, with bounds)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from podium.global_.trending_service import GlobalTrendAnswer, GlobalTrending
from podium.replication.trending_buckets import Calendar
from podium.replication.trending_graphql_types import (
    CalendarInput,
    TrendingChanged,
    TrendingItem,
    TrendingRegionAsOf,
)
from podium.replication.trending_series import series_for
from podium.replication.trending_topk import Precision as TrendPrecision
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import BadUserInput, Unavailable
from podium.gql import typed
from podium.gql.auth import authorize_read
from podium.gql.errors import as_graphql_errors
from podium.gql.live_fast import deliver
from podium.gql.scalars import Long
from podium.gql.types import Precision, as_of


@strawberry.type(name="Trending", description="The world-wide top-K of a stream over [from, to) (Unix ms, "
                                             "whole minutes), summed over every region that ships it.")
class WorldTrending:
    stream: str
    from_: Long = strawberry.field(name="from")
    to: Long
    precision: Precision = strawberry.field(description="EXACT only when proven from the regions' exact counts.")
    items: list[TrendingItem]
    total: Long = strawberry.field(description="Weight of every event counted in the range, all regions (N).")
    other: Long = strawberry.field(description="Weight past the regions' item caps per bucket.")
    guaranteed: bool = strawberry.field(description="The items are certainly the true world-wide top-K.")
    epsilon: float = strawberry.field(description="APPROXIMATE: each count is within epsilon * total.")
    delta: float = strawberry.field(description="Probability the bounds fail (0: deterministic bounds).")
    buckets: int = strawberry.field(description="Buckets merged per region.")
    regions: list[TrendingRegionAsOf]

    @classmethod
    def from_answer(cls, g: GlobalTrendAnswer) -> WorldTrending:
        a = g.answer
        return cls(stream=a.stream, from_=Long(a.from_ms), to=Long(a.to_ms), precision=Precision(a.precision.value),
                   items=[TrendingItem.from_item(t) for t in a.items], total=Long(a.total), other=Long(a.other),
                   guaranteed=a.guaranteed, epsilon=a.epsilon, delta=a.delta, buckets=a.buckets,
                   regions=[TrendingRegionAsOf(region=r, as_of=as_of(t) if t is not None else None)
                            for r, t in sorted(g.regions_as_of.items())])


def trending_of(info: Info[Any, Any]) -> GlobalTrending:
    service: GlobalTrending | None = info.context["service"].trending
    if service is None:
        raise Unavailable("trending is not running on this global tier")
    return service


@strawberry.type
class GlobalTrendingQuery:
    @typed.field(description="The trending streams the regions ship to the global tier.")
    async def trending_streams(self, info: Info[Any, Any]) -> list[str]:
        return await trending_of(info).store.streams()

    @typed.field(description="The world-wide top-K items of a stream over a range: from+to (Unix ms), last "
                             "(15m, 3h, 7d, 2w, up to now) or calendar (DAY, WEEK in tz), summed over the "
                             "regions, with each region's as-of time. EXACT is answered when the regions' "
                             "exact counts prove it, else APPROXIMATE with per-count bounds.")
    async def trending(
        self, info: Info[Any, Any], stream: str,
        from_: Annotated[Long | None, strawberry.argument(name="from")] = None,
        to: Long | None = None, last: str | None = None, calendar: CalendarInput | None = None,
        tz: str | None = None, k: int = 10, dims: JSON | None = None,
        precision: Precision = Precision.EXACT,
    ) -> WorldTrending:
        service = trending_of(info)
        view = await service.view(stream)
        await authorize_read(info, view.public_read)
        if precision is Precision.ESTIMATED:
            raise BadUserInput("trending precision is EXACT or APPROXIMATE")
        if dims is not None and not isinstance(dims, dict):
            raise BadUserInput("dims must be an object of dimension name to value")
        answer = await service.query(stream, from_ms=from_, to_ms=to, last=last,
                                     calendar=Calendar(calendar.value) if calendar else None, tz=tz, k=k,
                                     dims=dims, precision=TrendPrecision(precision.value))
        return WorldTrending.from_answer(answer)


@strawberry.type
class GlobalTrendingSubscription:
    @typed.subscription(description="A sliding window's world-wide top-K of a stream (window like 1h, 15m, "
                                    "7d), optionally of one dims filter: first the full top-K, then only "
                                    "changes, coalesced per tick.")
    async def trending_changed(self, info: Info[Any, Any], stream: str, window: str = "1h",
                               k: int = 10, dims: JSON | None = None) -> AsyncGenerator[TrendingChanged, None]:
        with as_graphql_errors():
            service = trending_of(info)
            view = await service.view(stream)
            await authorize_read(info, view.public_read)
            if dims is not None and not isinstance(dims, dict):
                raise BadUserInput("dims must be an object of dimension name to value")
            series_for(stream, view.dimensions, dims)     # refuses undeclared dimensions and bad values (400)
            live = service.live
            if live is None:
                raise Unavailable("trendingChanged is not running on this global tier")
            updates = live.subscribe(stream, window, k, tuple(sorted((dims or {}).items())))
            async for message in deliver(info, updates, TrendingChanged.from_update, live.payloads):
                yield message  # type: ignore[misc]

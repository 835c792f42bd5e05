"""GraphQL front of trending: the `trending` query and the `trendingChanged` subscription,
mixed into the region's Query and Subscription types (thin resolvers over TrendingService)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, cast

import strawberry
from podium.region.api.http import IDEMPOTENCY_KEY_LEN_MAX
from podium.region.trending.events import query_series
from podium.region.trending.service import TrendingService
from podium.replication.trending_buckets import Calendar
from podium.replication.trending_graphql_types import (
    CalendarInput,
    TrendingChanged,
    TrendingItem,
)
from podium.replication.trending_topk import Precision as TrendPrecision
from podium.replication.trending_topk import TrendAnswer
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import BadUserInput, Unauthenticated, Unavailable
from podium.gql import typed
from podium.gql.auth import authorize_read, require_admin
from podium.gql.errors import as_graphql_errors
from podium.gql.live_fast import deliver
from podium.gql.scalars import Long
from podium.gql.types import Precision


@strawberry.type(description="The top-K of a stream over [from, to) (Unix ms, whole minutes).")
class Trending:
    stream: str
    from_: Long = strawberry.field(name="from")
    to: Long
    precision: Precision
    items: list[TrendingItem]
    total: Long = strawberry.field(description="Weight of every event counted in the range (N).")
    other: Long = strawberry.field(description="Weight past the stream's item cap per bucket (exact answers).")
    guaranteed: bool = strawberry.field(description="The items are certainly the true top-K (always for EXACT; "
                                                    "for APPROXIMATE when the sketch's bounds prove it).")
    epsilon: float = strawberry.field(description="APPROXIMATE: each count is within epsilon * total.")
    delta: float = strawberry.field(description="Probability the bounds fail (0: deterministic bounds).")
    buckets: int = strawberry.field(description="Minute, hour and day buckets merged for the answer.")

    @classmethod
    def from_answer(cls, a: TrendAnswer) -> Trending:
        return cls(stream=a.stream, from_=Long(a.from_ms), to=Long(a.to_ms), precision=Precision(a.precision.value),
                   items=[TrendingItem.from_item(t) for t in a.items], total=Long(a.total), other=Long(a.other),
                   guaranteed=a.guaranteed, epsilon=a.epsilon, delta=a.delta, buckets=a.buckets)


def trending_of(info: Info[Any, Any]) -> TrendingService:
    service: TrendingService | None = info.context["service"].trending
    if service is None:
        raise Unavailable("trending is not running in this region")
    return service


@strawberry.type
class TrendingQuery:
    @typed.field(description="The ids of the trending streams anyone may read (the live page's list).")
    async def trending_streams(self, info: Info[Any, Any]) -> list[str]:
        streams = await trending_of(info).streams.refresh()
        return sorted(sid for sid, spec in streams.items() if spec.public_read)

    @typed.field(description="The top-K items of a stream over a range: from+to (Unix ms), last "
                                  "(15m, 3h, 7d, 2w, up to now) or calendar (DAY, WEEK in tz, an IANA zone). "
                                  "dims filters on declared dimensions, e.g. {mode: \"ranked\"}.")
    async def trending(
        self, info: Info[Any, Any], stream: str,
        from_: Annotated[Long | None, strawberry.argument(name="from")] = None,
        to: Long | None = None, last: str | None = None, calendar: CalendarInput | None = None,
        tz: str | None = None, k: int = 10, dims: JSON | None = None,
        precision: Precision = Precision.EXACT,
    ) -> Trending:
        service = trending_of(info)
        spec = await service.streams.require(stream)
        await authorize_read(info, spec.public_read)
        if precision is Precision.ESTIMATED:
            raise BadUserInput("trending precision is EXACT or APPROXIMATE")
        if dims is not None and not isinstance(dims, dict):
            raise BadUserInput("dims must be an object of dimension name to value")
        answer = await service.query(stream, from_ms=from_, to_ms=to, last=last,
                                     calendar=Calendar(calendar.value) if calendar else None, tz=tz, k=k,
                                     dims=dims, precision=TrendPrecision(precision.value))
        return Trending.from_answer(answer)


@strawberry.input(description="One event, as in POST /v1/events.")
class EventInput:
    stream: str
    item: str
    at: Long = strawberry.field(description="When it happened (Unix ms).")
    event_id: str = strawberry.field(description="Counted once per stream within the dedup window.")
    weight: Long = Long(1)
    dims: JSON | None = strawberry.field(default=None, description="Declared dimension values, e.g. {mode: \"ranked\"}.")


@strawberry.type
class TrendingMutations:
    @typed.mutation(description="Submit trending events (same validation, limits, per-event results and "
                                "Idempotency-Key replay as POST /v1/events). For trusted back-ends holding "
                                "an admin key; game servers sign batches to POST /v1/events instead.")
    async def submit_events(self, info: Info[Any, Any], events: list[EventInput],
                            idempotency_key: str | None = None) -> JSON:
        try:
            await require_admin(info)
        except Unauthenticated as exc:
            raise Unauthenticated("submitEvents needs an admin key; game servers use signed POST /v1/events") from exc
        if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_LEN_MAX:
            raise BadUserInput(f"idempotencyKey must be 1-{IDEMPOTENCY_KEY_LEN_MAX} characters")
        raw = [{"stream": e.stream, "item": e.item, "at": e.at, "event_id": e.event_id, "weight": e.weight,
                **({"dims": e.dims} if e.dims is not None else {})} for e in events]
        return cast(JSON, await trending_of(info).submit(raw, scope="graphql-admin", idem_key=idempotency_key))


@strawberry.type
class TrendingSubscription:
    @typed.subscription(description="A sliding window's top-K of a stream (window like 1h, 15m, 7d), "
                                         "optionally of one dims filter as in `trending`: first the full "
                                         "top-K, then only changes, coalesced per tick.")
    async def trending_changed(self, info: Info[Any, Any], stream: str, window: str = "1h",
                               k: int = 10, dims: JSON | None = None) -> AsyncGenerator[TrendingChanged, None]:
        with as_graphql_errors():
            service = trending_of(info)
            spec = await service.streams.require(stream)
            await authorize_read(info, spec.public_read)
            if dims is not None and not isinstance(dims, dict):
                raise BadUserInput("dims must be an object of dimension name to value")
            query_series(spec, dims)      # refuses undeclared dimensions and bad values (400)
            live = info.context["service"].trending_live
            updates = live.subscribe(stream, window, k, tuple(sorted((dims or {}).items())))
            async for message in deliver(info, updates, TrendingChanged.from_update, live.payloads):
                yield message  # type: ignore[misc]

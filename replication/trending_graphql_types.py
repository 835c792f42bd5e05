"""The GraphQL types of trending both tiers answer with (a region over its own events, the global tier
over every region's): one definition, so the two schemas' `TrendingItem`, `TrendingChange` and
`TrendingChanged` cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from podium.replication.trending_live import TrendingUpdate
from podium.replication.trending_topk import TrendItem

from podium.gql.live import ChangeKind
from podium.gql.scalars import Long
from podium.gql.types import as_of
from podium.top_diff import TopChange


@strawberry.enum(name="TrendingCalendar", description="A calendar range in the query's time zone.")
class CalendarInput(Enum):
    DAY = "DAY"      # today, local midnight to local midnight
    WEEK = "WEEK"    # this ISO week, Monday 00:00 local


@strawberry.type(description="One ranked item. EXACT: lower = upper = count. APPROXIMATE: the true count "
                             "(world-wide on the global tier) lies in [lower, upper]; errorBound = upper - lower "
                             "<= epsilon * total.")
class TrendingItem:
    rank: int
    item: str
    count: Long
    lower: Long
    upper: Long
    error_bound: Long

    @classmethod
    def from_item(cls, t: TrendItem) -> TrendingItem:
        return cls(rank=t.rank, item=t.item, count=Long(t.count), lower=Long(t.lower), upper=Long(t.upper),
                   error_bound=Long(t.error_bound))


@strawberry.type(description="One change to a watched trending top-K.")
class TrendingChange:
    kind: ChangeKind
    item: str
    rank: int | None
    previous_rank: int | None
    count: Long | None
    previous_count: Long | None

    @classmethod
    def from_change(cls, c: TopChange) -> TrendingChange:
        return cls(kind=ChangeKind(c.kind.value), item=c.player, rank=c.rank, previous_rank=c.previous_rank,
                   count=c.score, previous_count=c.previous_score)  # type: ignore[arg-type]


@strawberry.type(description="The first message holds the full top-K (`full: true`); later ones only the "
                             "changes, at most one per tick (new events or, on the global tier, a region's "
                             "shipped cells; or the window sliding). Counts as `trending` with precision "
                             "EXACT answers them.")
class TrendingChanged:
    stream: str
    window: str
    k: int
    seq: int
    full: bool
    items: list[TrendingItem]
    changes: list[TrendingChange]
    as_of: datetime

    @classmethod
    def from_update(cls, u: TrendingUpdate) -> TrendingChanged:
        return cls(stream=u.stream, window=u.window, k=u.k, seq=u.seq, full=u.full,
                   items=[TrendingItem(rank=e.rank, item=e.player, count=Long(e.score), lower=Long(e.score),
                                       upper=Long(e.score), error_bound=Long(0)) for e in u.items],
                   changes=[TrendingChange.from_change(c) for c in u.changes], as_of=as_of(u.as_of_ms))

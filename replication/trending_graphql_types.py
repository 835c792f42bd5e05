"""The GraphQL types of trending both tiers answer with (a region over its own events, the global tier
over every region's): one definition, so the two schemas' `TrendingItem`, `TrendingChange` and
`TrendingChanged` cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from podium.replication.trending_live import TrendingUpdate, TrendLabel
from podium.replication.trending_topk import TrendItem

from podium.gql.live import ChangeKind
from podium.gql.scalars import Long
from podium.gql.types import Precision, as_of
from podium.model import RankedEntry
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


@strawberry.type(description="How far the global tier holds one region's counts of the stream.")
class TrendingRegionAsOf:
    region: str
    as_of: datetime | None = strawberry.field(description="Everything the region counted before this time is "
                                                           "in the answer (null: it has not reported yet).")


@strawberry.type(description="The first message holds the full top-K (`full: true`); later ones only the "
                             "changes, at most one per tick (new events or, on the global tier, a region's "
                             "shipped cells; or the window sliding). Counts as `trending` with precision "
                             "EXACT answers them, with the same label: EXACT, or (on the global tier, when the "
                             "regions' exact counts cannot prove the top-K) APPROXIMATE with bounds.")
class TrendingChanged:
    stream: str
    window: str
    k: int
    seq: int
    full: bool
    items: list[TrendingItem]
    changes: list[TrendingChange]
    as_of: datetime
    precision: Precision = strawberry.field(description="EXACT, or APPROXIMATE: counts are estimates within "
                                                        "each item's [lower, upper].")
    epsilon: float = strawberry.field(description="APPROXIMATE: each count is within epsilon * total.")
    guaranteed: bool = strawberry.field(description="The items are certainly the true top-K.")
    error_bound: Long = strawberry.field(description="The largest upper - lower among the top-K (0: EXACT).")
    regions: list[TrendingRegionAsOf] = strawberry.field(
        description="Global tier: each region's as-of time behind this message (empty on a region).")

    @classmethod
    def from_update(cls, u: TrendingUpdate) -> TrendingChanged:
        label = u.label or TrendLabel()
        bounds = {item: (lower, upper) for item, lower, upper in label.bounds}

        def item(e: RankedEntry) -> TrendingItem:
            lower, upper = bounds.get(e.player, (e.score, e.score))
            return TrendingItem(rank=e.rank, item=e.player, count=Long(e.score), lower=Long(lower),
                                upper=Long(upper), error_bound=Long(upper - lower))

        return cls(stream=u.stream, window=u.window, k=u.k, seq=u.seq, full=u.full, items=[item(e) for e in u.items],
                   changes=[TrendingChange.from_change(c) for c in u.changes], as_of=as_of(u.as_of_ms),
                   precision=Precision(label.precision), epsilon=label.epsilon, guaranteed=label.guaranteed,
                   error_bound=Long(label.error_bound),
                   regions=[TrendingRegionAsOf(region=r, as_of=as_of(t) if t is not None else None)
                            for r, t in label.regions_as_of])

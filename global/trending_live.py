"""World-wide `trendingChanged` on the global tier: the regions' trending fan-out
(podium.replication.trending_live: one read per watch and tick, one diff shared by every
subscriber, serialized once per shape), reading the global tier's merged answer. A watch is
re-read when a region's body changed a cell of its stream (the store's per-stream counter) or its
window slid to a new minute. Counts are EXACT when the regions' shipped counts prove the top-K,
else the merged sketch's estimates (as `trending` with precision EXACT answers); every message
carries that label (precision, epsilon, guarantee, error bound, the items' bounds and each
region's as-of time), and a change of label is sent even when the ranking did not change."""

from __future__ import annotations

import asyncio

from podium.global_.service import GlobalService
from podium.global_.trending_service import GlobalTrending
from podium.replication.trending_live import Dims, TopRead, TrendingFanOut, TrendLabel

from podium.clock import Clock
from podium.config import Settings
from podium.model import RankedEntry


def build_global_live(trending: GlobalTrending, settings: Settings, clock: Clock) -> TrendingFanOut:
    async def read_top(stream: str, window: str, k: int, dims: Dims) -> TopRead:
        g = await trending.query(stream, last=window, k=k, dims=dict(dims))
        a = g.answer
        label = TrendLabel(a.precision.value, a.epsilon, a.guaranteed,
                           max((t.upper - t.lower for t in a.items), default=0),
                           tuple((t.item, t.lower, t.upper) for t in a.items), tuple(sorted(g.regions_as_of.items())))
        return TopRead([RankedEntry(t.rank, t.item, t.count, 0) for t in a.items], label)

    return TrendingFanOut(read_top, trending.store.versions, settings.api, settings.trending, clock)


def start_global_live(service: GlobalService) -> None:
    """Builds the fan-out onto `service.trending.live` and supervises its ticker (`trending-fan-out`
    in /readyz); closing the service's supervisor cancels it."""
    trending = service.trending
    if trending is None:
        return
    live = trending.live = build_global_live(trending, service.settings, service.clock)
    forever = asyncio.Event()
    service.supervisor.supervise("trending-fan-out", lambda: live.run(forever))

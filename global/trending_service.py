"""World-wide trending on the global tier: the intake of the regions' shipped cells and the
`trending` query over them (the I/O shell around `trending_merge`).

A query reads, for every region that declared the stream, the cells of the fewest buckets that
cover the range (the resolutions and retention every region keeps), merges them, and reports each
region's as-of time: the global tier holds everything that region counted before it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podium.global_.trending_merge import CellView, merge
from podium.global_.trending_store_redis import GlobalTrendingStore
from podium.replication.trending_buckets import (
    Calendar,
    Resolution,
    check_retention,
    cover,
    resolve_range,
    widen_to_retention,
)
from podium.replication.trending_live import TrendingFanOut
from podium.replication.trending_series import series_for
from podium.replication.trending_topk import Precision, TrendAnswer
from podium.replication.trending_wire import CellLimits, decode

from podium.clock import Clock
from podium.config import TrendingSettings
from podium.errors import BadUserInput, NotFound


@dataclass(frozen=True, slots=True)
class GlobalTrendAnswer:
    answer: TrendAnswer
    regions_as_of: dict[str, int | None]     # region -> as-of Unix ms (None: it has not reported one yet)
    public_read: bool


@dataclass(frozen=True, slots=True)
class StreamView:
    """The stream as every region keeps it: common resolutions, the shortest retention, the smallest sketch."""

    id: str
    regions: list[str]
    dimensions: tuple[str, ...]
    kept: dict[Resolution, int]
    sketch_lg_size: int
    public_read: bool


class GlobalTrending:
    def __init__(self, store: GlobalTrendingStore, limits: TrendingSettings, clock: Clock) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        self.cell_limits = CellLimits(limits.ship_exact_items_max, limits.item_len_max, limits.global_sketch_bytes_max)
        self.live: TrendingFanOut | None = None      # trendingChanged (global/trending_live.py), once started

    async def intake(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A verified region body: declarations, then cells, then its as-of report. Streams past
        `global_streams_max` are refused and named in the reply (their cells are not stored), as
        is the store's generation; an as-of report made for another generation is not recorded."""
        batch = decode(doc, self.cell_limits, self.limits.global_streams_max, self.limits.global_cells_per_body_max,
                       self.limits.sketch_lg_size_max)
        generation = await self.store.generation()
        refused = set(await self.store.declare(batch.region, batch.streams))
        accepted = [s for s in batch.streams if s.id not in refused]
        stored = await self.store.put_cells(batch.region, accepted,
                                            [c for c in batch.cells if c.stream not in refused])
        if batch.as_of_ms is not None and batch.generation in (None, generation):
            ids = batch.as_of_streams if batch.as_of_streams is not None else [s.id for s in accepted]
            await self.store.mark_as_of(batch.region, ids, batch.as_of_ms)
        return {"stored": stored, "refused": sorted(refused), "generation": generation}

    async def view(self, stream: str) -> StreamView:
        if not isinstance(stream, str) or not 0 < len(stream) <= 64:
            raise BadUserInput("stream must be a stream id")
        specs = await self.store.specs(stream)
        if not specs:
            raise NotFound(f"no region has shipped the stream {stream[:64]!r}")
        common = set.intersection(*(set(s.resolutions) for s in specs.values()))
        if not common:
            raise BadUserInput(f"the regions keep stream {stream!r} at no common resolution")
        dims = set.intersection(*(set(s.dimensions) for s in specs.values()))
        return StreamView(stream, sorted(specs), tuple(sorted(dims)),
                          {r: min(s.kept[r] for s in specs.values()) for r in common},
                          min(s.sketch_lg_size for s in specs.values()), all(s.public_read for s in specs.values()))

    async def query(self, stream: str, *, from_ms: int | None = None, to_ms: int | None = None,
                    last: str | None = None, calendar: Calendar | None = None, tz: str | None = None,
                    k: int = 10, dims: Mapping[str, Any] | None = None,
                    precision: Precision = Precision.EXACT) -> GlobalTrendAnswer:
        if not 1 <= k <= self.limits.k_max:
            raise BadUserInput(f"k must be between 1 and {self.limits.k_max}")
        view = await self.view(stream)
        series = series_for(stream, view.dimensions, dims)
        now = self.clock.now_ms()
        a, b = resolve_range(now, from_ms=from_ms, to_ms=to_ms, last=last, calendar=calendar, tz=tz)
        if last is not None or calendar is not None:
            a = widen_to_retention(a, now, view.kept)
        if (b - a) // 60_000 > 10 * self.limits.cover_buckets_max * 1440:
            raise BadUserInput("the range is longer than any stream keeps")
        buckets = cover(a, b, sorted(view.kept, key=lambda r: -r.size_ms))
        if len(buckets) > self.limits.cover_buckets_max:
            raise BadUserInput(f"the range needs {len(buckets)} buckets; the limit is {self.limits.cover_buckets_max}")
        check_retention(buckets, now, view.kept)
        rows = await self.store.cells(stream, view.regions, buckets, series)
        cells = [CellView(r["counts"], r["floor"], r["total"], r["other"], r["sketch"]) for _region, r in rows]
        merged = await asyncio.to_thread(merge, cells, k, precision, view.sketch_lg_size)
        as_of = await self.store.as_of(stream)
        answer = TrendAnswer(stream, a, b, merged.precision, merged.items, merged.total, merged.other,
                             merged.guaranteed, epsilon=merged.epsilon, buckets=len(buckets), series=series)
        return GlobalTrendAnswer(answer, {r: as_of.get(r) for r in view.regions}, view.public_read)

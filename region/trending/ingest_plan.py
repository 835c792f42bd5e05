"""What a batch of fresh events does to a stream's buckets (pure), computed once per batch so the
Redis adapter sends aggregated increments instead of per-event work.

Events arrive as columns (`EventColumns`); the dimension values of an event are an index into the
batch's few distinct dimension tuples. Aggregation runs finest resolution first (minute keys of
(start, item, dims) with summed weight), each coarser level from the one below it, so the Python
work grows with the distinct keys, not with the events. Dicts keep first-occurrence order, and the
first occurrence of a coarse key is the first occurrence of its first fine key, so the order in
which dimension values and items are offered to the caps is the events' arrival order: the
admissions are the ones `table.BucketTable` makes event by event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from podium.region.trending.events import TrendEvent, series_of
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import Resolution
from podium.replication.trending_series import OTHER_VALUE

Dims = tuple[tuple[str, str], ...]
# (resolution, bucket start, dimension name, value) offered to the dimension-value cap
DimOffer = tuple[Resolution, int, str, str]


@dataclass(slots=True)
class EventColumns:
    """A batch as parallel columns; `dims[i]` indexes `dim_tuples` (sorted (name, value) pairs)."""

    ids: list[str]
    items: list[str]
    ats: list[int]
    weights: list[int]
    dims: list[int]
    dim_tuples: list[Dims] = field(default_factory=lambda: [()])

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of_events(cls, events: Sequence[TrendEvent]) -> EventColumns:
        index: dict[Dims, int] = {(): 0}
        dims = [index.setdefault(d, len(index)) for d in map(attrgetter("dims"), events)]
        return cls(list(map(attrgetter("event_id"), events)), list(map(attrgetter("item"), events)),
                   list(map(attrgetter("at_ms"), events)), list(map(attrgetter("weight"), events)), dims,
                   list(index))

    def keep(self, fresh: Sequence[bool]) -> EventColumns:
        """The events flagged fresh, in order (the same object when all are)."""
        if all(fresh):
            return self
        pick = [i for i, ok in enumerate(fresh) if ok]
        return EventColumns([self.ids[i] for i in pick], [self.items[i] for i in pick],
                            [self.ats[i] for i in pick], [self.weights[i] for i in pick],
                            [self.dims[i] for i in pick], self.dim_tuples)


@dataclass(slots=True)
class Cell:
    """One (resolution, bucket, series): item weights in first-occurrence order, and their sum."""

    resolution: Resolution
    start_ms: int
    series: str
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0


Level = dict[tuple[int, str, int], int]    # (bucket start, item, dims index) -> summed weight


def levels(spec: StreamSpec, cols: EventColumns) -> dict[Resolution, Level]:
    """Summed weights per (bucket start, item, dims) for every kept resolution, finest first."""
    out: dict[Resolution, Level] = {}
    below: Level | None = None
    for res in sorted(spec.resolutions, key=lambda r: r.size_ms):
        size = res.size_ms
        level: Level = {}
        get = level.get
        if below is None:
            keys = zip([a - a % size for a in cols.ats], cols.items, cols.dims)
            if max(cols.weights) == 1:      # the common case, counted in C (first-occurrence order kept)
                level = dict(Counter(keys))
            else:
                for key, w in zip(keys, cols.weights):
                    level[key] = get(key, 0) + w
        else:
            for (start, item, d), w in below.items():
                key = (start - start % size, item, d)
                level[key] = get(key, 0) + w
        out[res] = below = level
    return out


def dim_offers(spec: StreamSpec, cols: EventColumns, by_level: Mapping[Resolution, Level]) -> list[DimOffer]:
    """Each (resolution, bucket, dimension, value) the batch holds, in arrival order of first use."""
    if not spec.dimensions:
        return []
    offers: dict[DimOffer, None] = {}
    for res in spec.resolutions:
        seen: dict[tuple[int, int], None] = {}
        for start, _item, d in by_level[res]:
            seen.setdefault((start, d))
        for start, d in seen:
            for name, value in cols.dim_tuples[d]:
                offers.setdefault((res, start, name, value))
    return list(offers)


def cells(spec: StreamSpec, cols: EventColumns, by_level: Mapping[Resolution, Level],
          refused: Iterable[DimOffer] = ()) -> list[Cell]:
    """The increments of every (resolution, bucket, series), with the refused dimension values
    (past the per-bucket cap) counted under OTHER_VALUE."""
    capped = set(refused)
    out: list[Cell] = []
    # the series of each distinct dimension tuple, once per batch (~4 us each, and a batch spread
    # over an hour has ~100 (bucket, tuple) pairs); per bucket only where a value was refused
    plain = [series_of(dims) for dims in cols.dim_tuples]
    capped_starts = {(res, start) for res, start, _n, _v in capped}
    for res in spec.resolutions:
        by_cell: dict[tuple[int, str], dict[str, int]] = {}     # first-occurrence order, as the cells go out
        # the count dicts of the cells a (bucket, dimension values) pair feeds, made when it is first
        # seen (so the cells keep first-occurrence order): one lookup per aggregated key, not one per
        # key and series (this loop is the ack's hot spot)
        targets: dict[tuple[int, int], list[dict[str, int]]] = {}
        for (start, item, d), w in by_level[res].items():
            feeds = targets.get((start, d))
            if feeds is None:
                names = plain[d]
                if (res, start) in capped_starts:
                    names = series_of([(n, OTHER_VALUE if (res, start, n, v) in capped else v)
                                       for n, v in cols.dim_tuples[d]])
                feeds = targets[(start, d)] = [by_cell.setdefault((start, s), {}) for s in names]
            for counts in feeds:
                counts[item] = counts.get(item, 0) + w
        # totals summed once per cell, not updated per increment (the loop above is the ack's hot spot)
        out += [Cell(res, start, series, counts, sum(counts.values())) for (start, series), counts in by_cell.items()]
    return out

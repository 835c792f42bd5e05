"""The bucket table (pure): how accepted events change a stream's buckets, the reference the
Redis adapter's Lua script reproduces step for step (and is tested against).

For each fresh event (its id not seen within the dedup window), in arrival order, and for each
kept resolution (the roll-up minute -> hour -> day is written through: every bucket of every
resolution is final as soon as its events are in, late events included):
  1. each dimension value is kept if its bucket has seen it or has seen fewer than
     `dim_values_per_bucket_max` values of that dimension; else it becomes OTHER_VALUE;
  2. for each series of the (capped) dimensions, the item is counted if the series' bucket has it
     or holds fewer than `items_per_bucket_max` items; else its weight is counted as "other";
  3. the series' total weight grows by the event's weight either way.
Memory per bucket is therefore bounded whatever the item cardinality."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from datasketches import frequent_strings_sketch
from podium.region.trending.events import TrendEvent, series_of
from podium.region.trending.streams import StreamSpec
from podium.replication import trending_sketch as sketches
from podium.replication.trending_buckets import Bucket, Resolution, bucket_start
from podium.replication.trending_series import OTHER_VALUE

CellKey = tuple[Resolution, int, str]      # resolution, bucket start, series


@dataclass(slots=True)
class Cell:
    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    total: int = 0
    sketch: frequent_strings_sketch | None = None


def capped_dims(event: TrendEvent, resolution: Resolution, values_seen: dict[tuple[Resolution, int, str], set[str]],
                cap: int) -> tuple[tuple[str, str], ...]:
    start = bucket_start(event.at_ms, resolution)
    out = []
    for name, value in event.dims:
        seen = values_seen.setdefault((resolution, start, name), set())
        if value not in seen:
            if len(seen) >= cap:
                value = OTHER_VALUE
            else:
                seen.add(value)
        out.append((name, value))
    return tuple(out)


class BucketTable:
    """One stream's buckets in memory (dedup ids never expire here: tests keep histories short)."""

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.cells: dict[CellKey, Cell] = {}
        self.values_seen: dict[tuple[Resolution, int, str], set[str]] = {}
        self.seen_ids: set[str] = set()

    def apply(self, events: Iterable[TrendEvent]) -> list[bool]:
        """Counts the events in order; per event, whether it was fresh (else a duplicate)."""
        fresh = []
        for e in events:
            if e.event_id in self.seen_ids:
                fresh.append(False)
                continue
            self.seen_ids.add(e.event_id)
            fresh.append(True)
            for res in self.spec.resolutions:
                dims = capped_dims(e, res, self.values_seen, self.spec.dim_values_per_bucket_max)
                start = bucket_start(e.at_ms, res)
                for series in series_of(dims):
                    cell = self.cells.setdefault((res, start, series), Cell())
                    cell.total += e.weight
                    if cell.sketch is None:
                        cell.sketch = sketches.new(self.spec.sketch_lg_size)
                    cell.sketch.update(e.item, e.weight)     # the sketch needs no cap: it is bounded
                    if e.item in cell.counts or len(cell.counts) < self.spec.items_per_bucket_max:
                        cell.counts[e.item] = cell.counts.get(e.item, 0) + e.weight
                    else:
                        cell.other += e.weight
        return fresh

    def read(self, buckets: Sequence[Bucket], series: str) -> tuple[Counter[str], int, int]:
        """Merged counts, other and total of `series` over the buckets."""
        counts: Counter[str] = Counter()
        other = total = 0
        for b in buckets:
            cell = self.cells.get((b.resolution, b.start_ms, series))
            if cell is not None:
                counts.update(cell.counts)
                other += cell.other
                total += cell.total
        return counts, other, total

    def read_sketch(self, buckets: Sequence[Bucket], series: str) -> frequent_strings_sketch:
        merged = sketches.new(self.spec.sketch_lg_size)
        for b in buckets:
            cell = self.cells.get((b.resolution, b.start_ms, series))
            if cell is not None and cell.sketch is not None:
                merged = sketches.merge(merged, cell.sketch)
        return merged

"""Top-K answers (pure): ranking rule, exact merging of bucket counts, and the answer shape.

The order is total: count descending, then item ascending, so equal counts never flicker."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Precision(StrEnum):
    EXACT = "EXACT"
    APPROXIMATE = "APPROXIMATE"


@dataclass(frozen=True, slots=True)
class TrendItem:
    rank: int
    item: str
    count: int
    lower: int            # the true count is within [lower, upper] (equal to count when exact)
    upper: int

    @property
    def error_bound(self) -> int:
        return self.upper - self.lower


@dataclass(frozen=True, slots=True)
class TrendAnswer:
    stream: str
    from_ms: int
    to_ms: int
    precision: Precision
    items: list[TrendItem]
    total: int                   # weight of every counted event in the range (N)
    other: int                   # weight that went past the item cap (exact answers only)
    guaranteed: bool             # the items are the true top-K (always, for exact answers)
    epsilon: float = 0.0         # approximate: every count is within epsilon * total of the truth
    delta: float = 0.0           # probability that bound fails (0: the sketch's bounds are deterministic)
    buckets: int = 0             # buckets merged to answer
    series: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def rank_key(pair: tuple[str, int]) -> tuple[int, str]:
    return -pair[1], pair[0]


def merge_counts(parts: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return total


def exact_top(counts: Mapping[str, int], k: int) -> list[TrendItem]:
    """The K largest counts in rank order (items with a zero count never appear)."""
    best = heapq.nsmallest(k, ((i, c) for i, c in counts.items() if c > 0), key=rank_key)
    return [TrendItem(r, item, c, c, c) for r, (item, c) in enumerate(best, 1)]

"""World-wide top-K from the regions' shipped bucket cells (pure).

Each cell (one region's bucket of one series) holds the exact counts of its top items and a
`floor`: an item missing from those counts has at most `floor` there. Summed over the cells of a
range, an item's true count lies in [known, known + the floors of the cells that left it out];
an item seen in no cell has at most F, the sum of every floor.

EXACT is claimed only when it is proven: the K reported items have no missing cell (their counts
are the true sums) and the K-th of them ranks above the upper bound of every other item, seen or
not (then they are the true top-K in the true order). With every cell complete (all floors 0)
that always holds. Otherwise the answer is APPROXIMATE: the regions' sketches merged (Misra-Gries
bounds, epsilon and delta as on a region), each item's interval narrowed by the exact counts,
and `guaranteed` when every reported item's lower bound is above every other item's upper bound.

The exact counts and the sketches bound the same quantity only when no cell had weight past its
item cap (`other` = 0); otherwise the sketch's bounds are used alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from podium.replication import trending_sketch as sketches
from podium.replication.trending_topk import Precision, TrendItem, exact_top, rank_key


@dataclass(frozen=True, slots=True)
class CellView:
    """One region's bucket cell as the merge reads it."""

    counts: dict[str, int]
    floor: int
    total: int
    other: int
    sketch: bytes


@dataclass(frozen=True, slots=True)
class Merged:
    precision: Precision
    items: list[TrendItem]
    total: int
    other: int
    guaranteed: bool
    epsilon: float


def _intervals(cells: Sequence[CellView]) -> tuple[Counter[str], dict[str, int], int]:
    """Per item the exact sum of its known counts and its upper bound; F for unseen items."""
    known: Counter[str] = Counter()
    floors_with: Counter[str] = Counter()     # floors of the cells that hold the item's count
    unseen = 0
    for cell in cells:
        unseen += cell.floor
        known.update(cell.counts)
        if cell.floor:
            for item in cell.counts:
                floors_with[item] += cell.floor
    upper = {item: count + unseen - floors_with[item] for item, count in known.items()}
    return known, upper, unseen


def exact_if_proven(cells: Sequence[CellView], k: int) -> list[TrendItem] | None:
    """The true top-K when the exact counts prove it, else None."""
    known, upper, unseen = _intervals(cells)
    if unseen == 0:
        return exact_top(known, k)
    # the K best lower bounds; they must all be exact and rank above every other upper bound
    best = exact_top(known, len(known))
    top = best[:k]
    if len(top) < k or any(upper[t.item] != t.count for t in top):
        return None
    kth = rank_key((top[-1].item, top[-1].count))
    if top[-1].count <= unseen:          # an unseen item (any name) could tie or beat it
        return None
    chosen = {t.item for t in top}
    if any(rank_key((item, up)) < kth for item, up in upper.items() if item not in chosen):
        return None
    return top


def approximate(cells: Sequence[CellView], k: int, lg_size: int) -> tuple[list[TrendItem], bool]:
    """The merged sketch's top-K with each interval narrowed by the exact counts."""
    merged = sketches.merge_blobs([c.sketch for c in cells], lg_size)
    rows = {item: (int(est), int(lb), int(ub)) for item, est, lb, ub in sketches.frequent_rows(merged)}
    unseen_upper = int(merged.get_upper_bound(sketches.UNSEEN))
    bounds: dict[str, tuple[int, int, int]] = {}
    if all(c.other == 0 for c in cells):
        known, upper, unseen = _intervals(cells)
        for item in rows.keys() | known.keys():
            est, lb, ub = rows.get(item, (0, 0, unseen_upper))
            lo, hi = max(lb, known.get(item, 0)), min(ub, upper.get(item, unseen))
            bounds[item] = (min(max(est, lo), hi), lo, hi)
        unseen_upper = min(unseen_upper, unseen)
    else:
        bounds = rows
    ranked = sorted(((item, est) for item, (est, _lo, _hi) in bounds.items() if bounds[item][2] > 0), key=rank_key)
    chosen = ranked[:k]
    items = [TrendItem(r, item, est, bounds[item][1], bounds[item][2]) for r, (item, est) in enumerate(chosen, 1)]
    rest_upper = max([bounds[item][2] for item, _ in ranked[k:]] + [unseen_upper])
    if len(chosen) < k:
        return items, rest_upper == 0
    # every chosen item's lower bound, not only the K-th's: narrowed intervals are not all as wide
    # as the sketch's, so ranking by estimate does not order the lower bounds
    return items, min(t.lower for t in items) > rest_upper


def merge(cells: Sequence[CellView], k: int, precision: Precision, lg_size: int) -> Merged:
    total = sum(c.total for c in cells)
    other = sum(c.other for c in cells)
    if precision is Precision.EXACT:
        top = exact_if_proven(cells, k)
        if top is not None:
            return Merged(Precision.EXACT, top, total, other, True, 0.0)
    items, guaranteed = approximate(cells, k, lg_size)
    return Merged(Precision.APPROXIMATE, items, total, other, guaranteed, sketches.epsilon(lg_size))

"""The exact top-K of a sum of buckets without merging them whole: Fagin's threshold algorithm
("TA") over the covering buckets, with bounds deciding which items need a random access.

Each bucket is read in descending pages of its counts (sorted access). A bucket's floor is the last
count its pages reached (0 once it is read to the end). An item no page has shown has at most the
floor in every bucket, so its sum is at most the floors' sum. An item that pages have shown has a
lower bound (what they showed) and an upper bound (plus the floor of every live bucket that has not
shown it). Only items whose upper bound reaches the K-th lower bound get an exact sum by random
access over the live buckets. An item shown by every live bucket, or whose buckets are all read, is
exact already. The answer is final when the K-th exact sum (count descending, item ascending) is
MORE than the floors' sum: an unshown item can then neither pass nor tie it, and every unresolved
item is below it. So the item-ascending tie rule at the K boundary holds too: with only "at least",
an unshown item summing exactly to the floors, with a smaller name, would be missed. Counts are
positive (weights are at least 1).

The read is bounded: at most `pages_max` pages of `page_items` counts. When the budget runs out
first, the answer is None and the caller merges the buckets whole, and says so. That happens when
counts are spread thinly over many buckets whose items rarely repeat, so the floors fall slowly.

Pure: the store's reads are behind `BucketPages` (Redis in threshold_merge_redis.py; the property
test also drives it from plain dicts against the brute-force oracle)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class BucketPages(Protocol):
    async def pages(self, reads: Sequence[tuple[int, int, int]]) -> list[list[tuple[bytes, int]]]:
        """For each (bucket, offset, count): that slice of the bucket's (item, count), count
        descending (the order among equal counts does not matter)."""

    async def sums(self, items: Sequence[bytes], buckets: Sequence[int]) -> list[int]:
        """Each item's count summed over the given buckets (0 where a bucket lacks it)."""


@dataclass(frozen=True)
class MergeStats:
    pages: int          # pages read (sorted accesses, each up to page_items counts)
    rounds: int         # round trips of pages
    candidates: int     # distinct items met on a page
    resolved: int       # of them, summed by random access (the others were bounded out, or fully read)


def _rank_key(row: tuple[bytes, int]) -> tuple[int, bytes]:
    return -row[1], row[0]     # count descending, item ascending (UTF-8 bytes: code point order)


async def top_k(reader: BucketPages, buckets: int, k: int, page_items: int,
                pages_max: int) -> tuple[list[tuple[bytes, int]] | None, MergeStats]:
    """The K largest sums (count descending, item ascending), or None when more than `pages_max`
    pages would be needed (then nothing is returned but the work done)."""
    offsets = [0] * buckets
    floors = [0] * buckets
    live = set(range(buckets))
    seen: dict[bytes, dict[int, int]] = {}     # unresolved item -> the counts its pages showed, per bucket
    exact: dict[bytes, int] = {}
    pages = rounds = resolved = 0
    while live:
        # every live bucket advances one page per round: a round is one pipelined call whatever
        # the number of buckets
        order = sorted(live)
        if pages + len(order) > pages_max:
            return None, MergeStats(pages, rounds, len(seen) + len(exact), resolved)
        got = await reader.pages([(b, offsets[b], page_items) for b in order])
        pages += len(order)
        rounds += 1
        for b, rows in zip(order, got, strict=True):
            offsets[b] += len(rows)
            if len(rows) < page_items:
                live.discard(b)       # read to its end: an item it did not show is absent (0)
                floors[b] = 0
            else:
                floors[b] = rows[-1][1]
            for item, count in rows:
                if item not in exact:
                    seen.setdefault(item, {})[b] = count
        # An unresolved item's sum is at least what its pages showed (lower) and at most that plus
        # the floor of every live bucket that has not shown it (upper). Only items whose upper bound
        # reaches the K-th lower bound are summed exactly; the others cannot reach the top K.
        floors_sum = sum(floors[b] for b in live)
        bounds: dict[bytes, tuple[int, int]] = {}
        for item, shown in seen.items():
            lower = sum(shown.values())
            upper = lower + floors_sum - sum(floors[b] for b in shown if b in live)
            bounds[item] = (lower, upper)
        for item, (lower, upper) in bounds.items():
            if upper == lower:        # no live bucket left to show it: its sum is known
                exact[item] = lower
                del seen[item]
        lows = sorted([*exact.values(), *(lo for item, (lo, _up) in bounds.items() if item in seen)], reverse=True)
        tau = lows[k - 1] if len(lows) >= k else 0
        pending = [item for item in seen if bounds[item][1] >= tau]
        if pending:
            live_order = sorted(live)
            for item, total in zip(pending, await reader.sums(pending, live_order), strict=True):
                exact[item] = total + sum(c for b, c in seen.pop(item).items() if b not in live)
            resolved += len(pending)
        # unresolved items are now below the K-th exact sum; an item no page showed sums to at most
        # the floors: strictly below the K-th means it can neither pass nor tie it
        if live and len(exact) >= k and heapq.nsmallest(k, exact.items(), key=_rank_key)[-1][1] > floors_sum:
            break
    ranked = heapq.nsmallest(k, exact.items(), key=_rank_key)
    return ranked, MergeStats(pages, rounds, len(seen) + len(exact), resolved)

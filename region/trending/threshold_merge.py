"""The exact top-K of a sum of buckets without merging them whole: Fagin's threshold algorithm
("TA") over the covering buckets.

Each bucket is read in descending pages of its counts (sorted access); every item met for the first
time gets its exact sum over all the buckets at once (random access), so a candidate's sum is never
partial. A bucket's floor is the last count its pages reached (0 once it is read to the end): an
item no page has met has at most that count in every bucket, so its sum is at most the sum of the
floors. The answer is final when the K-th candidate (count descending, item ascending) sums to
MORE than the floors' sum: an unmet item can then neither pass nor tie it, so the item-ascending
tie rule at the K boundary holds too (with only "at least", an unmet item summing exactly to the
floors with a smaller name would be missed). Counts are positive (weights are at least 1).

The read is bounded: at most `pages_max` pages of `page_items` counts. When the budget runs out
first (counts spread thinly over many buckets whose items rarely repeat: the floors fall slowly),
the answer is None and the caller merges the buckets whole, and says so.

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

    async def sums(self, items: Sequence[bytes]) -> list[int]:
        """Each item's count summed over every bucket (0 where a bucket lacks it)."""


@dataclass(frozen=True)
class MergeStats:
    pages: int          # pages read (sorted accesses, each up to page_items counts)
    rounds: int         # round trips of pages (each followed by one sums call)
    candidates: int     # distinct items met, each summed exactly


def _rank_key(row: tuple[bytes, int]) -> tuple[int, bytes]:
    return -row[1], row[0]     # count descending, item ascending (UTF-8 bytes: code point order)


async def top_k(reader: BucketPages, buckets: int, k: int, page_items: int,
                pages_max: int) -> tuple[list[tuple[bytes, int]] | None, MergeStats]:
    """The K largest sums (count descending, item ascending), or None when more than `pages_max`
    pages would be needed (then nothing is returned but the work done)."""
    offsets = [0] * buckets
    floors: list[int | None] = [None] * buckets      # None: not read yet (no bound below +inf)
    live = set(range(buckets))
    sums: dict[bytes, int] = {}
    pages = rounds = 0
    while live:
        # every live bucket advances one page per round: the floors' sum falls fastest where the
        # counts are large, and a round is one pipelined call whatever the number of buckets
        order = sorted(live)
        if pages + len(order) > pages_max:
            return None, MergeStats(pages, rounds, len(sums))
        reads = [(b, offsets[b], page_items) for b in order]
        got = await reader.pages(reads)
        pages += len(order)
        rounds += 1
        fresh: dict[bytes, None] = {}
        for b, rows in zip(order, got, strict=True):
            offsets[b] += len(rows)
            if len(rows) < page_items:
                live.discard(b)
                floors[b] = 0
            else:
                floors[b] = rows[-1][1]
            for item, _count in rows:
                if item not in sums:
                    fresh[item] = None
        if fresh:
            new = list(fresh)
            for item, total in zip(new, await reader.sums(new), strict=True):
                sums[item] = total
        if live and len(sums) >= k:
            kth = heapq.nsmallest(k, sums.items(), key=_rank_key)[-1][1]
            if kth > sum(f or 0 for f in floors):
                break
    ranked = heapq.nsmallest(k, sums.items(), key=_rank_key)
    return ranked, MergeStats(pages, rounds, len(sums))

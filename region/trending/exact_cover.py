"""Which buckets an exact read merges (pure): the range's cover, with each run of fine buckets
replaced by the one coarser bucket that holds them when the counts prove the two are equal, and
empty buckets left out.

The roll-up is written through (every event lands in its minute, hour and day buckets in the same
call), so a coarser bucket P holds the events of the cover's finer buckets inside it, plus those of
P's part outside the range (the excess). Its sorted set equals the sum of theirs when:
  * the excess holds no event: P's whole-stream total equals the sum of theirs (weights are at
    least 1, and the whole-stream series counts every event whatever its dimension values);
  * no item was counted as "other" in P or in any of them (the item caps admitted every item);
  * for a series filtered on dimensions, no value of those dimensions was refused by its cap in P or
    in any of them (each value set holds fewer than the cap, so none was ever refused): otherwise an
    event could be counted under OTHER_VALUE at one resolution and under its value at the other.
The series' totals are compared too. Most ranges that end now have an empty excess after them,
and a stream's old edge is often empty as well: a 30-day read of events from the last hour becomes
one day bucket instead of an hour and fifty minutes (a wide stream's buckets of a million items
each, which the threshold merge cannot bound: see threshold_merge.py). A bucket whose series total
is 0 holds no item and is left out. The counts read are the same either way; the reported total and
"other" are those of the range's cover."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from podium.replication.trending_buckets import Bucket, Resolution, bucket_start


@dataclass(frozen=True, slots=True)
class BucketCounts:
    """What a bucket's meta hash and value sets say of one series."""

    stream_total: int  # weight of every event in the bucket (the whole-stream series)
    total: int  # weight counted in the series
    other: int  # of it, past the item cap
    values_full: bool  # a value set of the series' dimensions holds the cap (a value may have been refused)

    def clean(self) -> bool:
        return self.other == 0 and not self.values_full


def parents(buckets: Sequence[Bucket], resolutions: Sequence[Resolution]) -> list[Bucket]:
    """The coarser buckets that could replace runs of the cover's buckets (their counts are read too)."""
    out: dict[Bucket, None] = {}
    for res in sorted(resolutions, key=lambda r: -r.size_ms):
        for b in buckets:
            if b.resolution.size_ms < res.size_ms:
                out.setdefault(Bucket(bucket_start(b.start_ms, res), res))
    return list(out)  # never one of the cover's buckets: those are disjoint


def merge_plan(
    buckets: Sequence[Bucket], resolutions: Sequence[Resolution], counts: Mapping[Bucket, BucketCounts]
) -> list[Bucket]:
    """The buckets to merge: the cover with proven runs replaced by their coarser bucket (coarsest
    first), and empty buckets left out. `counts` holds the cover's buckets and their `parents`."""
    current = list(buckets)
    for res in sorted(resolutions, key=lambda r: -r.size_ms):
        groups: dict[Bucket, list[Bucket]] = {}
        for b in current:
            if b.resolution.size_ms < res.size_ms:
                groups.setdefault(Bucket(bucket_start(b.start_ms, res), res), []).append(b)
        replaced: set[Bucket] = set()
        for parent, group in groups.items():
            if _same_counts(counts[parent], [counts[b] for b in group]):
                replaced.update(group)
                current.append(parent)
        current = sorted(b for b in current if b not in replaced)
    return [b for b in current if counts[b].total > 0]


def _same_counts(parent: BucketCounts, group: Sequence[BucketCounts]) -> bool:
    return (
        parent.clean()
        and all(g.clean() for g in group)
        and parent.stream_total == sum(g.stream_total for g in group)
        and parent.total == sum(g.total for g in group)
    )

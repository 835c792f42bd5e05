"""Approximate top-K (pure) with Apache DataSketches' frequent-items sketch (Misra-Gries with
purging), one per bucket and series, merged across buckets and across regions.

Guarantees, for a sketch of 2^lg slots that has seen weight N (merged sketches included):
  * every estimate e of an item with true count c satisfies c <= e <= c + epsilon * N, with
    epsilon = 3.5 / (0.75 * 2^lg) (DataSketches' a-priori bound); the sketch also gives per item
    bounds lower <= c <= upper, with upper - lower <= epsilon * N: that is the reported error bound;
  * the bounds are deterministic, so delta = 0;
  * the answer is flagged `guaranteed` when the K-th item's lower bound is above the upper bound
    of every other item (tracked or not): then the reported items are the true top-K. That always
    holds when the K-th and (K+1)-th true counts differ by more than 2 * epsilon * N."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from datasketches import frequent_items_error_type, frequent_strings_sketch
from podium.replication.trending_topk import TrendItem, rank_key

UNSEEN = "\x00"    # never a real item (items have no control characters): its upper bound is the offset


def epsilon(lg_size: int) -> float:
    return float(frequent_strings_sketch.get_epsilon_for_lg_size(lg_size))


def new(lg_size: int) -> frequent_strings_sketch:
    return frequent_strings_sketch(lg_size)


def of_counts(counts: Iterable[tuple[str, int]], lg_size: int) -> frequent_strings_sketch:
    sketch = frequent_strings_sketch(lg_size)
    for item, weight in counts:
        sketch.update(item, weight)
    return sketch


# A sketch whose items were all purged (equal counts purge each other away) still holds weight and an
# offset, but DataSketches calls it empty: `serialize` writes it as an empty sketch and `merge` skips
# it, so its weight vanishes and every bound after it is too narrow (a `guaranteed` answer could be
# wrong). Podium carries that weight itself: such a sketch is written in DataSketches' own non-empty
# form (serial version 1) with zero items, and a merge adds its weight and offset to the preamble.
_PREAMBLE = struct.Struct("<BBBBBBHIIqq")   # longs, version, family, lg max, lg cur, flags, -, items, -, weight, offset
_PREAMBLE_LONGS, _SERIAL_VERSION, _FAMILY = 4, 1, 10


def _purged_away(sketch: frequent_strings_sketch) -> bool:
    return bool(sketch.num_active_items == 0 and sketch.total_weight > 0)


def serialize(sketch: frequent_strings_sketch) -> bytes:
    """The sketch's bytes, weight and offset kept even when every item was purged."""
    if not _purged_away(sketch):
        return bytes(sketch.serialize())
    lg_max, lg_cur = bytes(sketch.serialize())[3:5]   # the empty form still names the sizes
    return _PREAMBLE.pack(_PREAMBLE_LONGS, _SERIAL_VERSION, _FAMILY, lg_max, lg_cur, 0, 0, 0, 0,
                          int(sketch.total_weight), int(sketch.get_upper_bound(UNSEEN)))


def merge(into: frequent_strings_sketch, other: frequent_strings_sketch) -> frequent_strings_sketch:
    """`into` with `other` merged in (into itself, or a new sketch when `other` was purged away)."""
    if not _purged_away(other):
        into.merge(other)
        return into
    blob = bytearray(serialize(into) if into.total_weight else _empty_form(into))
    head = list(_PREAMBLE.unpack_from(blob))
    head[9] += int(other.total_weight)
    head[10] += int(other.get_upper_bound(UNSEEN))
    _PREAMBLE.pack_into(blob, 0, *head)
    return frequent_strings_sketch.deserialize(bytes(blob))


def _empty_form(sketch: frequent_strings_sketch) -> bytes:
    lg_max, lg_cur = bytes(sketch.serialize())[3:5]
    return _PREAMBLE.pack(_PREAMBLE_LONGS, _SERIAL_VERSION, _FAMILY, lg_max, lg_cur, 0, 0, 0, 0, 0, 0)


def merge_blobs(blobs: Iterable[bytes], lg_size: int) -> frequent_strings_sketch:
    merged = frequent_strings_sketch(lg_size)
    for blob in blobs:
        merged = merge(merged, frequent_strings_sketch.deserialize(blob))
    return merged


def merge_onto_first(blobs: Sequence[bytes], lg_size: int) -> frequent_strings_sketch:
    """As `merge_blobs`, merging the later blobs into the first one deserialized (a compaction's
    first blob is the previous merge, the largest: copying it into an empty sketch first cost a
    quarter of the compaction). The plain path when the first was purged away or has another size."""
    if not blobs or len(blobs[0]) < 4 or blobs[0][3] != lg_size:
        return merge_blobs(blobs, lg_size)
    merged = frequent_strings_sketch.deserialize(blobs[0])
    if _purged_away(merged):
        return merge_blobs(blobs, lg_size)
    for blob in blobs[1:]:
        merged = merge(merged, frequent_strings_sketch.deserialize(blob))
    return merged


def frequent_rows(sketch: frequent_strings_sketch) -> list[tuple[str, int, int, int]]:
    """Every tracked item as (item, estimate, lower bound, upper bound)."""
    return [(item, int(est), int(lb), int(ub))
            for item, est, lb, ub in sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)]


def top(sketch: frequent_strings_sketch, k: int) -> tuple[list[TrendItem], bool]:
    """The K best estimates in rank order, and whether they are certainly the true top-K."""
    rows = sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
    ranked = sorted(((item, int(est)) for item, est, _lb, _ub in rows if est > 0), key=rank_key)
    bounds = {item: (int(lb), int(ub)) for item, _est, lb, ub in rows}
    chosen = ranked[:k]
    items = [TrendItem(r, item, est, *bounds[item]) for r, (item, est) in enumerate(chosen, 1)]
    unseen_upper = int(sketch.get_upper_bound(UNSEEN))
    if len(chosen) < k:
        # fewer candidates than K: exact only if nothing was ever purged
        return items, unseen_upper == 0
    kth_lower = items[-1].lower
    rest_upper = max([bounds[i][1] for i, _ in ranked[k:]] + [unseen_upper])
    return items, kth_lower > rest_upper

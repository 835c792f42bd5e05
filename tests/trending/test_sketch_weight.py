"""Sketch blobs keep all their weight. DataSketches calls a frequent-items sketch whose items were
all purged "empty": its own `serialize` drops the weight and offset, and its `merge` skips it, so
bounds after it were too narrow. Against an exact oracle: after any split of a stream into
serialized deltas merged in any order, every item's true count lies within the merged bounds and
no untracked item can exceed the unseen bound."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from podium.replication import trending_sketch as sketches

LG = 3   # 8 slots, purging after 6 items: streams of a few equal counts purge everything


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 12).map(lambda i: f"i{i}"), st.integers(1, 3)), max_size=20),
                min_size=1, max_size=6))
def test_merged_bounds_hold_whatever_was_purged(deltas: list[list[tuple[str, int]]]) -> None:
    oracle: Counter[str] = Counter()
    blobs = []
    for events in deltas:
        counts: Counter[str] = Counter()
        for item, weight in events:
            counts[item] += weight
        oracle.update(counts)
        blobs.append(sketches.serialize(sketches.of_counts(counts.items(), LG)))
    merged = sketches.merge_blobs(blobs, LG)
    # and once more through a blob, as compaction and shipping do
    merged = sketches.merge_blobs([sketches.serialize(merged)], LG)
    assert merged.total_weight == sum(oracle.values())
    rows = {item: (lb, ub) for item, _est, lb, ub in sketches.frequent_rows(merged)}
    unseen = merged.get_upper_bound(sketches.UNSEEN)
    for item, count in oracle.items():
        lower, upper = rows.get(item, (0, unseen))
        assert lower <= count <= upper, (item, count, lower, upper)


def test_a_sketch_purged_to_no_items_keeps_its_weight_and_offset() -> None:
    purged = sketches.of_counts([(f"i{n}", 1) for n in range(7)], LG)
    assert purged.num_active_items == 0 and purged.total_weight == 7     # what DataSketches calls empty
    assert bytes(purged.serialize()) != sketches.serialize(purged)
    back = sketches.merge_blobs([sketches.serialize(purged)] * 2, LG)
    assert back.total_weight == 14 and back.get_upper_bound("i0") == 2
    live = sketches.merge(sketches.of_counts([("a", 5)], LG), purged)
    assert sketches.frequent_rows(live) == [("a", 6, 5, 6)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 12).map(lambda i: f"i{i}"), st.integers(1, 3)), max_size=20),
                min_size=1, max_size=6))
def test_merging_onto_the_first_blob_is_the_plain_merge(deltas: list[list[tuple[str, int]]]) -> None:
    """Compaction merges into its first blob deserialized: same weight, rows and unseen bound as
    merging every blob into an empty sketch, purged-away blobs included."""
    blobs = []
    for events in deltas:
        counts: Counter[str] = Counter()
        for item, weight in events:
            counts[item] += weight
        blobs.append(sketches.serialize(sketches.of_counts(counts.items(), LG)))
    plain, onto = sketches.merge_blobs(blobs, LG), sketches.merge_onto_first(blobs, LG)
    assert onto.total_weight == plain.total_weight
    assert onto.get_upper_bound(sketches.UNSEEN) == plain.get_upper_bound(sketches.UNSEEN)
    assert sorted(sketches.frequent_rows(onto)) == sorted(sketches.frequent_rows(plain))

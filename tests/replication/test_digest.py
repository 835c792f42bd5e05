"""Anti-entropy digests: equal boards give equal bucket digests, a changed row changes exactly its
bucket, and exchanging only the rows of differing buckets makes both sides equal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.replication.digest import bucket_of, differing, digests, in_buckets

Rows = dict[str, tuple[int, int]]
rows = st.dictionaries(st.sampled_from([f"p{i}" for i in range(60)]),
                       st.tuples(st.integers(-5, 5), st.integers(0, 5)), max_size=60)


def as_entries(board: Rows) -> list[tuple[str, int, int]]:
    return [(p, s, t) for p, (s, t) in board.items()]


@given(rows, rows, st.sampled_from([1, 8, 64]))
def test_diff_and_repair_converge(a: Rows, b: Rows, buckets: int) -> None:
    diff = differing(digests(as_entries(a), buckets), digests(as_entries(b), buckets))
    assert (diff == []) == (a == b)
    for p in in_buckets(set(a) | set(b), diff, buckets):   # the region re-announces; global takes it
        if p in a:
            b[p] = a[p]
        else:
            b.pop(p, None)
    assert digests(as_entries(a), buckets) == digests(as_entries(b), buckets)
    assert a == b


@given(rows, st.randoms(use_true_random=False))
def test_digest_is_order_independent(a: Rows, rnd: object) -> None:
    entries = as_entries(a)
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert digests(entries) == digests(shuffled)


@given(rows.filter(bool), st.integers(-9, 9), st.data())
def test_one_changed_row_changes_only_its_bucket(a: Rows, score: int, data: st.DataObject) -> None:
    player = data.draw(st.sampled_from(sorted(a)))
    b = {**a, player: (score, a[player][1])}
    diff = differing(digests(as_entries(a)), digests(as_entries(b)))
    assert diff == ([] if b == a else [bucket_of(player)])

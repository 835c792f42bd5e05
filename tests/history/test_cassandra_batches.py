"""The direct upsert encoder (`cassandra_batches.py`) must produce exactly the bytes the driver's
own `PreparedStatement.bind` produces, for every upsert the Cassandra history store prepares, and
route a batch as the driver routes the bound statement."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from itertools import count, pairwise
from typing import Any

import pytest
from cassandra.query import BatchType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.cassandra_batches import UpsertEncoder

from podium.config import HistorySettings

pytestmark = pytest.mark.anyio
_keyspaces = count()

texts = st.text(max_size=40)
ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
bigints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Bind-marker order of each upsert in cassandra.py's _queries.
ROWS: dict[str, Any] = {
    "hist_put": st.tuples(texts, ints, texts, bigints, texts, bigints, bigints),
    "snap_put": st.tuples(texts, bigints, ints, ints, texts, bigints, bigints, bigints),
    "rank_put": st.tuples(texts, texts, bigints, ints, bigints, bigints),
    "index_put": st.tuples(texts, bigints, ints, ints, bigints),
    "board_put": st.tuples(texts, texts, texts),
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def store(cassandra_settings: HistorySettings) -> AsyncIterator[CassandraHistoryStore]:
    # One keyspace for the module: creating one (schema agreement on a loaded node) took most of
    # each test's time, and one test near pytest-timeout's limit was fatal for the whole run.
    keyspace = f"podium_b{os.getpid()}_{next(_keyspaces)}"
    opened = CassandraHistoryStore(cassandra_settings.model_copy(update={"cassandra_keyspace": keyspace}))
    await opened.open()
    yield opened
    await opened.close()


@pytest.mark.parametrize("name", sorted(ROWS))
async def test_encoded_values_and_routing_equal_the_drivers_bind(store: CassandraHistoryStore, name: str) -> None:
    prepared = store._prepared[name]
    encoder: UpsertEncoder = store._encoders[name]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(ROWS[name], min_size=1, max_size=5))
    def check(rows: list[tuple[Any, ...]]) -> None:
        encoded = [encoder.values(row) for row in rows]
        bound = [prepared.bind(row) for row in rows]
        assert encoded == [b.values for b in bound]
        assert encoder.routing_key(encoded[0]) == bound[0].routing_key
        batch = encoder.batch(encoded, encoder.routing_key(encoded[0]))
        assert batch.batch_type == BatchType.UNLOGGED
        assert batch.routing_key == bound[0].routing_key and batch.keyspace == bound[0].keyspace
        assert batch._statements_and_parameters == [(True, prepared.query_id, b.values) for b in bound]

    check()


async def test_an_encoded_batch_is_stored_as_written(store: CassandraHistoryStore) -> None:
    """Round trip through the node: what the encoder wrote reads back unchanged."""
    from podium.region.history.store import ScoreRow

    rows = [ScoreRow("enc", f"p{i % 3}", f"e{i}", (-1) ** i * 2**40 + i, 1_700_000_000_000 + i) for i in range(30)]
    await store.append_scores(rows)
    for player in ("p0", "p1", "p2"):
        got = await store.score_history("enc", player, 100)
        want = sorted((r for r in rows if r.player == player), key=lambda r: r.achieved_at_ms, reverse=True)
        assert got == want


async def test_score_partitions_equal_the_drivers_bind(store: CassandraHistoryStore) -> None:
    """The writer's one-pass encoding of score rows: same bytes as binding the upsert, grouped by
    the partition `history_bucket` gives."""
    from podium.region.history.cassandra import HISTORY_BUCKETS, history_bucket
    from podium.region.history.cassandra_batches import score_partitions
    from podium.region.history.store import ScoreRow

    prepared = store._prepared["hist_put"]
    score_rows = st.builds(ScoreRow, st.sampled_from(["b1", "b2@3", "ü"]), texts, texts, bigints,
                           st.integers(min_value=0, max_value=2**52))

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(score_rows, max_size=30))
    def check(rows: list[ScoreRow]) -> None:
        want: dict[tuple[str, int], list[tuple[bytes, ...]]] = {}
        for r in rows:
            bucket = history_bucket(r.player)
            bound = prepared.bind((r.board, bucket, r.player, r.achieved_at_ms, r.event_id, r.score,
                                   r.achieved_at_ms * 1000))
            want.setdefault((r.board, bucket), []).append(tuple(bound.values))
        longest = max((sum(map(len, values)) for part in want.values() for values in part), default=0)
        got, row_bytes = score_partitions(rows, HISTORY_BUCKETS)
        assert got == want
        assert row_bytes >= longest and (not rows or row_bytes - longest <= max(len(r.board.encode()) for r in rows))

    check()


@given(sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=60),
       rows_max=st.integers(min_value=1, max_value=10), bytes_max=st.integers(min_value=1, max_value=1000))
def test_split_batches_keeps_order_and_both_bounds(sizes: list[int], rows_max: int, bytes_max: int) -> None:
    from podium.region.history.cassandra_batches import split_batches

    rows = [[b"x" * size, b"%d" % i] for i, size in enumerate(sizes)]
    runs = split_batches(rows, rows_max, bytes_max)
    assert [row for run in runs for row in run] == rows
    for run in runs:
        assert 1 <= len(run) <= rows_max
        assert len(run) == 1 or sum(len(v) for row in run for v in row) <= bytes_max
    # greedy: a run ends only when the next row would break a bound
    for run, following in pairwise(runs):
        full = len(run) == rows_max
        over = sum(len(v) for row in [*run, following[0]] for v in row) > bytes_max
        assert full or over


@given(sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=60),
       rows_max=st.integers(min_value=1, max_value=10), bytes_max=st.integers(min_value=1, max_value=1000))
def test_split_batches_by_count_under_a_row_bound_keeps_both_bounds(sizes: list[int], rows_max: int,
                                                                   bytes_max: int) -> None:
    from podium.region.history.cassandra_batches import split_batches

    rows = [[b"x" * size, b"%d" % i] for i, size in enumerate(sizes)]
    row_bytes_max = max((sum(map(len, row)) for row in rows), default=0)
    runs = split_batches(rows, rows_max, bytes_max, row_bytes_max)
    assert [row for run in runs for row in run] == rows
    for run in runs:
        assert 1 <= len(run) <= rows_max
        assert len(run) == 1 or sum(len(v) for row in run for v in row) <= bytes_max
    assert len({len(run) for run in runs[:-1]}) <= 1   # all but the last the same count

"""Multi-entry records over a real Apache Kafka broker: every acknowledged batch is one record per
partition holding entries of two boards, and a worker killed -9 while applying them, then restarted
in its group, leaves both increment boards equal to the acknowledgements (nothing lost, nothing
counted twice; the dedup window is shorter than the outage, so only the offset fence stands)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from tests.region.helpers import create_board, entry, post_scores
from tests.stream.conftest import say, wait_until
from tests.stream.poster import board_scores, tally, wait_equal

BATCHES, BATCH_ENTRIES, PLAYERS = 60, 400, 300


def post_batches(base: str, boards: list[str], n: int, oracle: dict[str, dict[str, int]], start: int,
                 records: set[tuple[int, int]]) -> int:
    """Posts `n` batches alternating entries of `boards`; adds the acknowledged ones to `oracle` and
    their (partition, offset) pairs to `records`. Returns the entries acknowledged."""
    acked = 0
    for b in range(n):
        entries = [entry(boards[i % len(boards)], f"p{(start + b * 7 + i) % PLAYERS}", i % 5 + 1)
                   for i in range(BATCH_ENTRIES)]
        r = post_scores(base, {"entries": entries})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert {x["status"] for x in results} == {"accepted"}
        records.update((x["partition"], x["offset"]) for x in results)
        for e in entries:
            per_board = oracle.setdefault(e["board"], {})
            per_board[e["player"]] = per_board.get(e["player"], 0) + e["score"]
        acked += len(entries)
    return acked


def test_multi_entry_records_cross_a_worker_kill_exactly_once(stream_region: Any, pytestconfig: pytest.Config) -> None:
    # few records per micro-batch and small Lua rounds: the kill lands between commits, mid-record-stream
    region = stream_region(workers=0, PODIUM_INGEST__DEDUP_WINDOW_MS="300", PODIUM_KAFKA__TAKE_ENTRIES_MAX="4",
                           PODIUM_KAFKA__APPLY_ENTRIES_MAX="150")
    boards = [create_board(region.url, operator="increment") for _ in range(2)]
    oracle: dict[str, dict[str, int]] = {}
    records: set[tuple[int, int]] = set()
    entries = post_batches(region.url, boards, BATCHES, oracle, 0, records)
    # one record per batch and partition (4 partitions): far fewer records than entries
    assert len(records) <= BATCHES * 4 < entries
    region.add_worker()
    wait_until(lambda: any(board_scores(region.url, b) for b in boards), 90, 0.05)
    region.workers[-1].kill()                   # SIGKILL while records are being applied
    applied_at_kill = sum(sum(board_scores(region.url, b).values()) for b in boards)
    time.sleep(1.0)                             # the dedup window passes
    entries += post_batches(region.url, boards, 10, oracle, BATCHES, records)
    restarted_at = time.monotonic()
    region.add_worker()
    try:
        for b in boards:
            wait_equal(region.url, b, oracle[b], 120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nrestarted worker's log:\n{region.workers[-1].output()}") from exc
    caught_up_s = time.monotonic() - restarted_at
    total = sum(itertools.chain.from_iterable(o.values() for o in oracle.values()))
    for b in boards:
        counted = tally(board_scores(region.url, b), oracle[b])
        assert (counted.lost, counted.doubled) == (0, 0)
    say(pytestconfig, f"[multi-entry records, worker kill -9] {entries} entries in {len(records)} records, "
                      f"{applied_at_kill}/{total} score units applied at the kill; "
                      f"equal to the oracle {caught_up_s:.1f}s after the restart")

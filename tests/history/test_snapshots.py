"""Snapshot export/restore round-trips, season archive, and the scheduler on a fake clock."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from podium.region.history.store import HistoryStore, Snapshot
from podium.region.snapshots import (
    SchedulerState,
    SnapshotScheduler,
    archive_season,
    export_snapshot,
    restore,
)

from podium.clock import FakeClock
from podium.errors import BadUserInput
from podium.model import RankedEntry

pytestmark = pytest.mark.anyio

ENTRIES = tuple(RankedEntry(i, f"player:{i}@x", 10_000 - i // 3, 1_700_000_000_000 + i) for i in range(1, 5001))


async def _read(board: str) -> tuple[int, Sequence[RankedEntry]]:
    return 3, ENTRIES


async def test_export_restore_round_trip(anyio_backend: str, tmp_path: Path, history_store: HistoryStore) -> None:
    snap = Snapshot("b", 3, 123, ENTRIES + (RankedEntry(5001, "neg", -2**53, 0),))
    path = await export_snapshot(snap, tmp_path)
    assert path.name == "b.s3.123.jsonl.gz"
    assert await restore(path, history_store) == snap
    assert await history_store.read_snapshot("b", 123) == snap


async def test_truncated_export_is_rejected(anyio_backend: str, tmp_path: Path) -> None:
    path = await export_snapshot(Snapshot("b", 0, 1, ENTRIES[:10]), tmp_path)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1])))
    with pytest.raises(BadUserInput):
        await restore(path)


async def test_archive_before_clear(anyio_backend: str, tmp_path: Path, history_store: HistoryStore) -> None:
    cleared: list[str] = []

    async def clear(board: str) -> None:
        assert await history_store.snapshot_times(board, 1) == [99]  # archived first
        cleared.append(board)

    path = await archive_season(history_store, _read, "b", 99, tmp_path, clear)
    assert cleared == ["b"] and (await restore(path)).entries == ENTRIES


async def _until(cond: Callable[[], bool]) -> None:
    # The tick runs SQLite and gzip in threads, so wait on the outcome (bounded), not on loop turns.
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def test_scheduler_on_fake_clock(anyio_backend: str, tmp_path: Path, history_store: HistoryStore) -> None:
    clock = FakeClock(1_000_000)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)  # yield: time moves only in the test body

    failing = {"bad"}

    async def read(board: str) -> tuple[int, Sequence[RankedEntry]]:
        if board in failing:
            raise RuntimeError("redis down")
        return await _read(board)

    sched = SnapshotScheduler(history_store, read, lambda: ["a", "bad"], clock, 60, tmp_path, sleep=fake_sleep)
    assert sched.state is SchedulerState.NEW
    sched.start()
    assert sched.state is SchedulerState.RUNNING
    for _ in range(5):
        await asyncio.sleep(0)
    assert sched.taken == [] and slept and slept[0] == 60.0
    clock.advance(60_000)
    await _until(lambda: len(sched.taken) == 1 and len(sched.errors) == 1)
    assert sched.taken == [("a", 1_060_000)]
    assert sched.errors and sched.errors[0][0] == "bad"
    clock.advance(185_000)  # three intervals late: one catch-up tick, not three
    await _until(lambda: len(sched.taken) == 2 and len(sched.errors) == 2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert sched.taken == [("a", 1_060_000), ("a", 1_245_000)]
    await sched.stop()
    assert sched.state is SchedulerState.STOPPED
    assert await history_store.snapshot_times("a", 10) == [1_245_000, 1_060_000]
    assert sorted(p.name for p in tmp_path.glob("*.jsonl.gz")) == ["a.s3.1060000.jsonl.gz", "a.s3.1245000.jsonl.gz"]


async def test_one_scheduler_per_interval_takes_the_snapshot(anyio_backend: str, tmp_path: Path,
                                                             history_store: HistoryStore) -> None:
    clock = FakeClock(1_000_000)
    claimed: set[int] = set()
    down = {"claim": False}

    async def claim(now_ms: int) -> bool:
        if down["claim"]:
            raise ConnectionError("redis down")
        slot = now_ms // 60_000
        fresh = slot not in claimed
        claimed.add(slot)
        return fresh

    async def small(board: str) -> tuple[int, Sequence[RankedEntry]]:
        return 0, ENTRIES[:3]

    a = SnapshotScheduler(history_store, small, lambda: ["a"], clock, 60, tmp_path, claim=claim)
    b = SnapshotScheduler(history_store, small, lambda: ["a"], clock, 60, tmp_path, claim=claim)
    await a.tick()
    await b.tick()                       # same interval: b leaves it to a
    assert (a.taken, b.taken) == ([("a", 1_000_000)], [])
    down["claim"] = True
    clock.advance(60_000)
    await b.tick()                       # a failing claim skips the tick, recorded, nothing raised
    assert b.taken == [] and b.errors[0][0] == "*"
    assert await history_store.snapshot_times("a", 10) == [1_000_000]

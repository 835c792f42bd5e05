"""The stream path's history (StreamProcessor + HistoryWriter + SQLite, real Redis): micro-batches
replayed after crashes, in other boundaries, write every accepted event exactly once and nothing
quarantined; a rebuild from that history equals the oracle (increment and best boards)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import history_key
from podium.region.history.writer import HistoryWriter
from podium.region.recovery import Rebuilder
from podium.region.stream.anticheat import AntiCheat
from podium.region.stream.processor import LogRecord, StreamProcessor
from podium.region.stream.records import encode_entry

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.config import HistorySettings, Settings
from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry
from podium.stream_topics import StreamTopics
from tests.region.oracle import OracleBoard
from tests.stream.test_processor import Crash, CrashingStore

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000_000


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[SqliteHistoryStore]:
    store = SqliteHistoryStore(tmp_path / "h.sqlite3")
    await store.open()
    yield store
    await store.close()


def log_of(entries: list[ScoreEntry], partitions: int = 3) -> list[LogRecord]:
    offsets = [0] * partitions
    out = []
    for e in entries:
        p = sum(e.player.encode()) % partitions
        out.append(LogRecord(p, offsets[p], encode_entry(e)[1]))
        offsets[p] += 1
    return out


async def test_replayed_micro_batches_write_history_once(anyio_backend: str, redis_single: aioredis.Redis,
                                                        history: SqliteHistoryStore) -> None:
    clock = FakeClock(T0)
    settings = Settings(region="eu")
    store = CrashingStore(redis_single, settings.ingest, history_backlog_max=100_000)
    registry = BoardRegistry(redis_single, clock)

    async def all_boards() -> list[Board]:
        return list((await registry.all()).values())

    writer = HistoryWriter(history, RedisHistoryBacklog(redis_single, "w1", 1000), all_boards,
                           batch_entries_max=8, poll_ms=10, retry_ms_max=100)
    writer.start()

    async def emit(topic: str, key: bytes, value: bytes) -> None:
        return None

    # rate anti-cheat only: the "cheat" player's burst is quarantined, never ranked nor kept
    anti_cheat = AntiCheat(entries_per_minute_max=25, z_max=1e9, samples_min=10**9, players_max=10**6)
    processor = StreamProcessor(store, registry, StreamTopics.of(settings), anti_cheat, clock, emit, "eu", 1000)
    boards = [await registry.create(Board("s-inc", operator=Operator.INCREMENT)), await registry.create(Board("s-top"))]
    rng = random.Random(3)
    entries = [ScoreEntry(rng.choice(boards).id, f"p{rng.randrange(40)}", rng.randrange(-5, 50),
                          T0 - 1000 + rng.randrange(3), f"e{i}") for i in range(500)]
    entries += [ScoreEntry("s-inc", "cheat", 1, T0 - 500, f"c{i}") for i in range(40)]
    rng.shuffle(entries)
    log = log_of(entries)
    committed = 0
    while committed < len(log):
        end = min(len(log), committed + rng.randrange(1, 90))
        store.crash_on = rng.choice([None, None, "s-inc", "s-top"])
        try:
            await processor.process(log[committed:end])
        except Crash:
            continue
        if rng.random() < 0.3:
            continue                      # applied, but the worker died before committing its offsets
        committed = end
    await processor.process(log)          # a consumer-group reset: everything again, all skipped
    assert await writer.flush(5)

    quarantined = {q.event_id for b in boards for q in await store.quarantined(b, 10_000)}
    assert len({q for q in quarantined if q.startswith("c")}) >= 40 - 25
    kept = [e for e in entries if e.event_id not in quarantined]
    for board in boards:
        oracle = OracleBoard(board)
        expected: dict[str, set[str]] = {}
        for e in (e for e in kept if e.board == board.id):
            if oracle.apply(e) in ("a", "u"):
                expected.setdefault(e.player, set()).add(e.event_id)
        assert await store.range(board, 0, 1000) == oracle.ranking()
        stored = {p: [r.event_id for r in rows] async for p, rows in history.iter_player_history(history_key(board.id, 0))}
        assert {p: sorted(ids) for p, ids in stored.items()} == {p: sorted(ids) for p, ids in expected.items()}

        # Redis loses the board; the rebuild from the history is exact
        await redis_single.delete(keys_of(board).zset, keys_of(board).index)
        rebuilder = Rebuilder(redis_single, store, history, registry, clock, HistorySettings(rebuild_settle_ms=0),
                              dedup_window_ms=settings.ingest.dedup_window_ms)
        [report] = await rebuilder.run([board.id])
        assert report.entries == len(oracle.entries)
        assert await store.range(board, 0, 1000) == oracle.ranking()
    await writer.close(1)

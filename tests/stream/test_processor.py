"""The stream worker's core against real Redis, without a broker: replays after a crash at any
point apply every record exactly once (increment boards equal the oracle), duplicates are applied
once, anti-cheat quarantines without ranking."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from podium.region.rank_store import ApplyOutcome
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.anticheat import AntiCheat
from podium.region.stream.processor import LogRecord, StreamProcessor
from podium.region.stream.records import encode_entry

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.config import Settings
from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry
from podium.stream_topics import StreamTopics

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000_000


class Crash(Exception):
    """A worker dying mid-batch."""


class CrashingStore(RedisRankStore):
    """The real store, dying before it applies to `crash_on` (once)."""

    crash_on: str | None = None

    async def apply(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int, **kw: Any) -> list[ApplyOutcome] | None:
        if board.id == self.crash_on:
            self.crash_on = None
            raise Crash(board.id)
        return await super().apply(board, entries, now_ms, **kw)


def lenient_anti_cheat() -> AntiCheat:
    return AntiCheat(entries_per_minute_max=10**9, z_max=1e9, samples_min=10**9, players_max=10**6)


async def make(redis: aioredis.Redis, anti_cheat: AntiCheat | None = None) -> tuple[StreamProcessor, CrashingStore, list[tuple[str, bytes, bytes]]]:
    clock = FakeClock(T0)
    settings = Settings(region="eu")
    store = CrashingStore(redis, settings.ingest)
    emitted: list[tuple[str, bytes, bytes]] = []

    async def emit(topic: str, key: bytes, value: bytes) -> None:
        emitted.append((topic, key, value))

    processor = StreamProcessor(store, BoardRegistry(redis, clock), StreamTopics.of(settings),
                                anti_cheat or lenient_anti_cheat(), clock, emit, "eu", 1000)
    return processor, store, emitted


def records(entries: list[ScoreEntry], partitions: int = 3) -> list[LogRecord]:
    """Entries as they sit on the log: partitioned by player, offsets per partition."""
    next_offset = [0] * partitions
    out = []
    for e in entries:
        p = sum(e.player.encode()) % partitions
        out.append(LogRecord(p, next_offset[p], encode_entry(e)[1]))
        next_offset[p] += 1
    return out


def oracle(entries: list[ScoreEntry]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for e in entries:
        totals[(e.board, e.player)] = totals.get((e.board, e.player), 0) + e.score
    return totals


async def board_state(store: RedisRankStore, boards: list[Board]) -> dict[tuple[str, str], int]:
    out = {}
    for board in boards:
        for row in await store.range(board, 0, 10_000):
            out[(board.id, row.player)] = row.score
    return out


async def forget_event_ids(redis: aioredis.Redis, boards: list[Board]) -> None:
    """A replay later than the dedup window: only the stored offsets stand between it and a double count."""
    for board in boards:
        keys = [k async for k in redis.scan_iter(match=f"{keys_of(board).prefix}dd:*")]
        if keys:
            await redis.delete(*keys)


async def create_boards(processor: StreamProcessor, ids: list[str]) -> list[Board]:
    return [await processor.registry.create(Board(i, operator=Operator.INCREMENT)) for i in ids]


async def test_partial_micro_batch_replay_skips_applied_board_and_applies_the_rest(redis_single: aioredis.Redis) -> None:
    processor, store, _ = await make(redis_single)
    a, b = await create_boards(processor, ["inc-a", "inc-b"])
    entries = [ScoreEntry(board.id, f"p{i % 5}", i + 1, T0 - 1000, f"ev{board.id}{i}")
               for i in range(40) for board in (a, b)]
    log = records(entries, partitions=1)
    store.crash_on = "inc-b"               # board A is applied, the worker dies before board B
    with pytest.raises(Crash):
        await processor.process(log)
    state = await board_state(store, [a, b])
    assert state == {k: v for k, v in oracle(entries).items() if k[0] == "inc-a"}
    await forget_event_ids(redis_single, [a, b])
    report = await processor.process(log)   # the uncommitted micro-batch comes again
    assert report.replayed == 40 and report.applied == 40
    assert await board_state(store, [a, b]) == oracle(entries)


@pytest.mark.parametrize("seed", range(4))
async def test_replays_with_other_batch_boundaries_never_double_count(redis_single: aioredis.Redis, seed: int) -> None:
    rng = random.Random(seed)
    processor, store, _ = await make(redis_single)
    boards = await create_boards(processor, [f"inc-{seed}-{j}" for j in range(3)])
    entries = [ScoreEntry(rng.choice(boards).id, f"p{rng.randrange(12)}", rng.randrange(1, 1000), T0 - 1000,
                          f"e{seed}-{i}") for i in range(600)]
    log = records(entries)
    committed = 0
    while committed < len(log):
        # a micro-batch of random size from the committed position; a random crash loses the commit
        end = min(len(log), committed + rng.randrange(1, 120))
        store.crash_on = rng.choice([None, None, *[b.id for b in boards]])
        try:
            await processor.process(log[committed:end])
        except Crash:
            await forget_event_ids(redis_single, boards)
            continue
        if rng.random() < 0.3:
            continue                          # applied, but the worker died before committing
        committed = end
    assert await board_state(store, boards) == oracle(entries)


async def test_duplicate_event_ids_within_the_window_are_applied_once(redis_single: aioredis.Redis) -> None:
    processor, store, emitted = await make(redis_single)
    (board,) = await create_boards(processor, ["inc-dup"])
    once = [ScoreEntry(board.id, f"p{i}", 10, T0 - 1000, f"dup-{i}") for i in range(10)]
    # the game server retried: same event ids again, later on the log (new offsets)
    await processor.process(records(once + once, partitions=1))
    assert await board_state(store, [board]) == oracle(once)
    published = [orjson.loads(v) for topic, _, v in emitted if topic.endswith(".rank-changes")]
    assert sorted(c["player"] for doc in published for c in doc["changes"]) == sorted(f"p{i}" for i in range(10))


async def test_rate_and_anomaly_quarantine_is_visible_and_never_ranked(redis_single: aioredis.Redis) -> None:
    processor, store, emitted = await make(redis_single, AntiCheat(3, z_max=5.0, samples_min=10, players_max=1000))
    board = await processor.registry.create(Board("best-q"))
    normal = [ScoreEntry(board.id, f"p{i}", 100 + i % 7, T0 - 1000, f"n{i}") for i in range(30)]
    spam = [ScoreEntry(board.id, "spammer", 101 + i, T0 - 1000, f"s{i}") for i in range(5)]
    outlier = [ScoreEntry(board.id, "cheater", 10**9, T0 - 1000, "x")]
    report = await processor.process(records(normal + spam + outlier, partitions=2))
    assert report.quarantined == 3
    held = await store.quarantined(board, 100)
    assert sorted((q.player, q.reason) for q in held) == [("cheater", "anomaly"), ("spammer", "rate"), ("spammer", "rate")]
    ranked = {row.player for row in await store.range(board, 0, 100)}
    assert "cheater" not in ranked and "spammer" in ranked
    assert sum(1 for topic, _, _ in emitted if topic.endswith(".quarantine")) == 3

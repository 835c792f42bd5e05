"""The stream worker's core against real Redis, without a broker: replays after a crash at any
point apply every record exactly once (increment boards equal the oracle), duplicates are applied
once, anti-cheat quarantines without ranking. Logs of single-entry records (version 1), of
multi-entry records holding several boards (version 2) and of both mixed are all checked."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from podium.region.rank_store import ApplyOutcome
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rank_store_reply import AppliedLog
from podium.region.stream.anticheat import AntiCheat
from podium.region.stream.processor import LogRecord, StreamProcessor
from podium.region.stream.records import encode_entries, encode_entry, partition_of

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

    async def apply_log(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int,
                        offsets: Sequence[tuple[str, int, int]]) -> AppliedLog | None:
        if board.id == self.crash_on:
            self.crash_on = None
            raise Crash(board.id)
        return await super().apply_log(board, entries, now_ms, offsets)


def lenient_anti_cheat() -> AntiCheat:
    return AntiCheat(entries_per_minute_max=10**9, z_max=1e9, samples_min=10**9, players_max=10**6)


async def make(redis: aioredis.Redis, anti_cheat: AntiCheat | None = None, apply_entries_max: int = 5000,
               ) -> tuple[StreamProcessor, CrashingStore, list[tuple[str, bytes, bytes]]]:
    clock = FakeClock(T0)
    settings = Settings(region="eu")
    store = CrashingStore(redis, settings.ingest)
    emitted: list[tuple[str, bytes, bytes]] = []

    async def emit(topic: str, key: bytes, value: bytes) -> None:
        emitted.append((topic, key, value))

    processor = StreamProcessor(store, BoardRegistry(redis, clock), StreamTopics.of(settings),
                                anti_cheat or lenient_anti_cheat(), clock, emit, "eu", 1000,
                                apply_entries_max=apply_entries_max)
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


def batched_records(entries: list[ScoreEntry], partitions: int = 3, seed: int = 0, v1_share: float = 0.0,
                    ) -> list[LogRecord]:
    """Entries as the batched sink writes them: each run of 1-40 consecutive entries is one batch,
    cut into one version 2 record per partition (boards mixed inside); with `v1_share`, that share
    of the batches is written as single-entry version 1 records instead (an old region's log)."""
    rng = random.Random(seed)
    next_offset = [0] * partitions
    out = []
    i = 0
    while i < len(entries):
        batch = entries[i:i + rng.randrange(1, 41)]
        i += len(batch)
        by_partition: dict[int, list[ScoreEntry]] = {}
        for e in batch:
            by_partition.setdefault(partition_of(e.player, partitions), []).append(e)
        for p, group in by_partition.items():
            values = ([encode_entry(e)[1] for e in group] if rng.random() < v1_share
                      else [encode_entries(group)])
            for value in values:
                out.append(LogRecord(p, next_offset[p], value))
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


@pytest.mark.parametrize("log_format", ["v1", "v2", "mixed", "v2-small-chunks"])
@pytest.mark.parametrize("seed", range(4))
async def test_replays_with_other_batch_boundaries_never_double_count(
    redis_single: aioredis.Redis, seed: int, log_format: str
) -> None:
    rng = random.Random(seed)
    # small chunks: a partition's records are applied in several rounds of Lua calls per micro-batch
    processor, store, _ = await make(redis_single, apply_entries_max=7 if log_format == "v2-small-chunks" else 5000)
    boards = await create_boards(processor, [f"inc-{seed}-{log_format}-{j}" for j in range(3)])
    entries = [ScoreEntry(rng.choice(boards).id, f"p{rng.randrange(12)}", rng.randrange(1, 1000), T0 - 1000,
                          f"e{seed}-{i}") for i in range(600)]
    log = (records(entries) if log_format == "v1"
           else batched_records(entries, seed=seed, v1_share=0.5 if log_format == "mixed" else 0.0))
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


async def test_a_multi_entry_record_interrupted_between_boards_is_finished_on_replay(redis_single: aioredis.Redis) -> None:
    processor, store, _ = await make(redis_single)
    a, b = await create_boards(processor, ["inc-ma", "inc-mb"])
    entries = [ScoreEntry(board.id, f"p{i % 5}", i + 1, T0 - 1000, f"mev{board.id}{i}")
               for i in range(40) for board in (a, b)]
    log = [LogRecord(0, 0, encode_entries(entries[:50])), LogRecord(0, 1, encode_entries(entries[50:]))]
    store.crash_on = "inc-mb"              # both records hold both boards: A applied, then the worker dies
    with pytest.raises(Crash):
        await processor.process(log)
    assert await board_state(store, [a, b]) == {k: v for k, v in oracle(entries).items() if k[0] == "inc-ma"}
    await forget_event_ids(redis_single, [a, b])
    report = await processor.process(log)
    assert (report.records, report.entries, report.replayed, report.applied) == (2, 80, 40, 40)
    assert await board_state(store, [a, b]) == oracle(entries)
    again = await processor.process(log)   # a third delivery changes nothing
    assert (again.replayed, again.applied) == (80, 0)
    assert await board_state(store, [a, b]) == oracle(entries)


async def test_dedup_and_anti_cheat_act_per_entry_inside_multi_entry_records(redis_single: aioredis.Redis) -> None:
    processor, store, emitted = await make(redis_single, AntiCheat(3, z_max=1e9, samples_min=10**9, players_max=1000))
    (board,) = await create_boards(processor, ["inc-mdup"])
    once = [ScoreEntry(board.id, f"p{i}", 10, T0 - 1000, f"mdup-{i}") for i in range(10)]
    spam = [ScoreEntry(board.id, "spammer", 1, T0 - 1000, f"ms{i}") for i in range(5)]
    # one record holds a retried batch (same event ids twice) and a player over the rate limit
    report = await processor.process([LogRecord(0, 0, encode_entries(once + once + spam)),
                                      LogRecord(0, 1, encode_entries(once))])
    assert report.quarantined == 2
    assert await board_state(store, [board]) == {**oracle(once), (board.id, "spammer"): 3}
    held = await store.quarantined(board, 100)
    assert sorted((q.player, q.reason) for q in held) == [("spammer", "rate"), ("spammer", "rate")]
    published = [orjson.loads(v) for topic, _, v in emitted if topic.endswith(".rank-changes")]
    assert sorted(c["player"] for doc in published for c in doc["changes"]) == sorted(
        [f"p{i}" for i in range(10)] + ["spammer"] * 3)


async def test_undecodable_records_are_dropped_and_counted(redis_single: aioredis.Redis) -> None:
    processor, store, _ = await make(redis_single)
    (board,) = await create_boards(processor, ["inc-junk"])
    good = [ScoreEntry(board.id, "p1", 5, T0 - 1000, "j1")]
    junk = [b"", b"not json", b"[1,2]", b'{"v": 3, "g": []}', b'{"v": 2, "g": [["x", [[1]]]]}']
    log = [LogRecord(0, i, v) for i, v in enumerate(junk)] + [LogRecord(0, len(junk), encode_entries(good))]
    report = await processor.process(log)
    assert (report.dropped, report.applied) == (len(junk), 1)
    assert await board_state(store, [board]) == oracle(good)


async def test_a_traced_records_apply_span_is_a_child_of_the_producing_request(redis_single: aioredis.Redis) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from podium.region.stream.tracing import current_headers

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    processor, store, _ = await make(redis_single)
    processor.tracer = tracer
    (board,) = await create_boards(processor, ["inc-traced"])
    entries = [ScoreEntry(board.id, f"p{i}", 1, T0 - 1000, f"tr{i}") for i in range(6)]
    with tracer.start_as_current_span("POST /v1/scores") as request_span:
        headers = current_headers()
    assert [k for k, _ in headers] == ["traceparent"]
    assert current_headers() == []                       # outside a span: no headers at all
    log = [LogRecord(0, 0, encode_entries(entries[:3]), headers),       # traced
           LogRecord(0, 1, encode_entries(entries[3:]), None)]          # untraced: no span
    await processor.process(log)
    applied = [s for s in exporter.get_finished_spans() if s.name == "stream.apply"]
    assert len(applied) == 1
    span = applied[0]
    assert span.context.trace_id == request_span.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == request_span.get_span_context().span_id
    assert span.kind is trace.SpanKind.CONSUMER
    assert (span.attributes or {})["podium.entries"] == 3 and (span.attributes or {})["messaging.kafka.offset"] == 0
    assert await board_state(store, [board]) == oracle(entries)

"""CPU of the stream worker's own Python per applied entry: `StreamProcessor.process` in this
process over version 2 records (125 entries each, as a 500-entry batch over 4 partitions makes),
against a real redis-server in its own process. Without Kafka, Faust or the history writer, so the
figure is the part `region/stream/*` and the rank store's client side cost, and compares across
checkouts on a busy machine (process CPU time, not wall time).

    python benchmarks/stream_processor_cpu.py [--entries 200000]
    /other/checkout/.venv/bin/python benchmarks/stream_processor_cpu.py   # the same records there
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.anticheat import AntiCheat
from podium.region.stream.processor import LogRecord, StreamProcessor
from podium.region.stream.records import encode_entries

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import Settings
from podium.model import Board, ScoreEntry
from podium.redis_server import RedisServer
from podium.stream_topics import StreamTopics

RECORD_ENTRIES = 125
PARTITIONS = 4
MICRO_BATCH_RECORDS = 40   # records per `process` call (5,000 entries)


async def _run(url: str, entries: int, players: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    redis = aioredis.Redis.from_url(url)
    try:
        clock = SystemClock()
        settings = Settings(region="bench")
        store = RedisRankStore(redis, settings.ingest)

        async def emit(topic: str, key: bytes, value: bytes) -> None:
            return None

        # default anti-cheat limits: every entry is checked, none held back (scores stay in range)
        anti = AntiCheat(entries_per_minute_max=10**6, z_max=6.0, samples_min=100, players_max=10**6)
        processor = StreamProcessor(store, BoardRegistry(redis, clock), StreamTopics.of(settings), anti, clock,
                                    emit, "bench", 1000)
        board = await processor.registry.create(Board("cpu"))
        now = clock.now_ms()
        records = []
        for i in range(entries // RECORD_ENTRIES):
            batch = [ScoreEntry(board.id, f"p{rng.randrange(players)}", rng.randrange(1000, 2000), now - 1000,
                                f"e{i}-{j}-{rng.getrandbits(32)}") for j in range(RECORD_ENTRIES)]
            records.append(LogRecord(i % PARTITIONS, i // PARTITIONS, encode_entries(batch)))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        applied = 0
        for start in range(0, len(records), MICRO_BATCH_RECORDS):
            report = await processor.process(records[start : start + MICRO_BATCH_RECORDS])
            applied += report.applied
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return {"applied": applied, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                "applied_entries_per_cpu_s": round(applied / cpu), "cpu_us_per_entry": round(cpu / applied * 1e6, 2)}
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--players", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=False) as server:
        print(asyncio.run(_run(server.url, args.entries, args.players, 7)))


if __name__ == "__main__":
    main()

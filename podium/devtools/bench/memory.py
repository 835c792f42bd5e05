"""`podium bench memory`: Redis bytes per player of a board, next to baselines in the same Redis.

For each board size the same players (ids "p<i>", random scores, achievement times spread over
100 s) are written three ways, one at a time, and Redis' `used_memory` before and after each gives
bytes/player:
- Podium: `RedisRankStore.replace`, as a rebuild writes a board (the member encoding and player
  index of podium/ranking.py and podium/lua/index.lua: all of a board's per-player state; the
  index has the same buckets as after the same players' writes);
- the previous encoding ("<12 hex digits>:<player>" members plus one index hash of hex times), as
  the release before wrote it, so the change is measured in the same run;
- a plain sorted set (ZADD player score): the floor any sorted-set leaderboard pays.
Each structure is deleted before the next is written, so one run needs the memory of the largest.

Bytes/player is the sum of `MEMORY USAGE <key> SAMPLES 0` (every element counted) over the keys the
structure wrote: exact, and blind to what other clients of the same Redis allocate meanwhile (a
bench region's loops, client buffers), which moved `used_memory` by more than the difference
between the encodings on small boards. The `used_memory` delta is reported next to it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import AnyRedis, connect
from podium.region.rank_store_redis import RedisRankStore

TARGET_BYTES_PER_PLAYER_MAX = 160
WRITE_CHUNK_ENTRIES = 10_000
TIMES_SPREAD_MS = 100_000
LAZYFREE_WAIT_POLLS_MAX = 3000   # 0.1 s apart: a 10M-entry board freed in the background
SCAN_COUNT = 1000


def _rows(players: int, seed: int, start: int, stop: int, now_ms: int) -> list[tuple[str, int, int]]:
    rng = random.Random(seed * 1_000_003 + start)
    return [(f"p{i}", rng.randrange(10**9), now_ms - i % TIMES_SPREAD_MS) for i in range(start, stop)]


async def _used(redis: AnyRedis) -> int:
    """used_memory once the background thread has freed what UNLINK handed it (clear, drops)."""
    for _ in range(LAZYFREE_WAIT_POLLS_MAX):
        info = await redis.info("memory")
        if not int(info.get("lazyfree_pending_objects", 0)):
            break
        await asyncio.sleep(0.1)
    return int(info["used_memory"])


async def _key_bytes(redis: AnyRedis, pattern: str) -> int:
    """The memory of every key matching `pattern`, each counted in full (SAMPLES 0)."""
    keys = [key async for key in redis.scan_iter(match=pattern, count=SCAN_COUNT)]
    total = 0
    for start in range(0, len(keys), SCAN_COUNT):
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys[start:start + SCAN_COUNT]:
                pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
            total += sum(int(n or 0) for n in await pipe.execute())
    return total


async def _measure(redis: AnyRedis, players: int, pattern: str, write: Callable[[], Awaitable[None]],
                   drop: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    await drop()
    before = await _used(redis)
    t0 = time.perf_counter()
    await write()
    seconds = time.perf_counter() - t0
    after = await _used(redis)
    keys_bytes = await _key_bytes(redis, pattern)
    await drop()
    return {"bytes_per_player": round(keys_bytes / players, 1), "key_bytes": keys_bytes,
            "used_memory_delta_bytes": after - before,
            "used_memory_bytes_per_player": round((after - before) / players, 1), "write_s": round(seconds, 2)}


async def measure_board(url: str, players: int, seed: int = 1) -> dict[str, Any]:
    redis = connect(url)
    store = RedisRankStore(redis)
    board = Board(id="bench-mem")
    k = keys_of(board)
    board_keys = f"{k.prefix}*"       # the zset, the index and its buckets, the previous encoding's hash
    now = time.time_ns() // 10**6

    def chunks() -> Iterator[list[tuple[str, int, int]]]:
        for start in range(0, players, WRITE_CHUNK_ENTRIES):
            yield _rows(players, seed, start, min(players, start + WRITE_CHUNK_ENTRIES), now)

    async def podium() -> None:   # as a rebuild writes a board (the index is the same as after writes)
        await store.replace(board, (row for chunk in chunks() for row in chunk))

    async def previous() -> None:
        for rows in chunks():
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zadd(k.zset, {f"{t:012x}:{p}": -s for p, s, t in rows})
                pipe.hset(k.legacy_index, mapping={p: f"{t:012x}" for p, _s, t in rows})
                await pipe.execute()

    async def plain() -> None:
        for rows in chunks():
            await redis.zadd("bench:plain", {p: s for p, s, _t in rows})

    async def drop() -> None:
        await store.clear(board)
        await redis.unlink("bench:plain", k.legacy_index)

    try:
        measured = {"podium": await _measure(redis, players, board_keys, podium, drop),
                    "previous_encoding": await _measure(redis, players, board_keys, previous, drop),
                    "plain_zset": await _measure(redis, players, "bench:plain", plain, drop)}
    finally:
        await redis.aclose()
    p, prev, base = (float(measured[x]["bytes_per_player"]) for x in ("podium", "previous_encoding", "plain_zset"))
    out: dict[str, Any] = {"players": players, **measured}
    out["ratios"] = {"podium_vs_plain_zset": round(p / base, 3) if base > 0 else None,
                     "podium_vs_previous_encoding": round(p / prev, 3) if prev > 0 else None}
    out["meets_target"] = p <= TARGET_BYTES_PER_PLAYER_MAX
    return out


def scenario_memory(redis_url: str, boards: tuple[int, ...], progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    results = []
    for players in boards:
        progress(f"memory @{players:,}", 0, 1)
        results.append(asyncio.run(measure_board(redis_url, players)))
        progress(f"memory @{players:,}", 1, 1)
    return {"status": "measured", "unit": "bytes/player", "target_bytes_per_player_max": TARGET_BYTES_PER_PLAYER_MAX,
            "boards": results}

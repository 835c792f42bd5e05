"""CPU per 1,000-change batch of the global merge, in the global process and in its Redis: the
Python merge (the default) against podium/lua/global_merge.lua (global_.merge_in_redis), 60
batches per operator on a fresh redis-server. CPU time, not wall time, so a loaded machine blurs it
less. Run: .venv/bin/python benchmarks/global_merge_cpu.py"""

from __future__ import annotations

import asyncio
import pathlib
import random
import tempfile
import time

from podium.global_.merged_store import GlobalStore
from podium.replication.changes import Change

from podium.model import Board, Operator
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer

BATCHES = 60
BATCH_CHANGES = 1000
REGIONS = ["us-east", "eu-west", "ap-south"]


async def redis_cpu_s(redis: AnyRedis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def main(url: str) -> None:
    redis = connect(url)
    rng = random.Random(1)
    for op in (Operator.BEST, Operator.LATEST, Operator.INCREMENT):
        for name, in_redis in (("python", False), ("lua", True)):
            store, board = GlobalStore(redis, merge_in_redis=in_redis), Board(f"{name}-{op}", operator=op)
            seq = 1_796_033_487_027 << 16
            batches = [[Change(REGIONS[k % 3], board.id, 0, f"u{rng.randrange(20_000):06d}", rng.randrange(10**6),
                               1_796_033_487_027 + rng.randrange(10**5), seq + k) for _ in range(BATCH_CHANGES)]
                       for k in range(BATCHES)]
            redis0, own0 = await redis_cpu_s(redis), time.process_time()
            for batch in batches:
                await store.apply(board, batch)
            own, in_redis_s = time.process_time() - own0, await redis_cpu_s(redis) - redis0
            print(f"{op:10} {name:6} global process {own / BATCHES * 1000:6.1f} ms/batch   "
                  f"redis {in_redis_s / BATCHES * 1000:6.1f} ms/batch")
    await redis.aclose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d, RedisServer(pathlib.Path(d), appendonly=False) as server:
        asyncio.run(main(server.url))

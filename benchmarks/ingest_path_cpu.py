"""CPU of the direct-mode HTTP ingest path per entry, without the HTTP server: `IngestService.submit_body`
(decode and validate in C, one Lua call per board, results built from the reply, one encode) over
1000-entry bodies, in this process, against a real redis-server in its own process. Process CPU
time, so it compares across checkouts on a busy machine:

    python benchmarks/ingest_path_cpu.py [--bodies 60]
    /other/checkout/.venv/bin/python benchmarks/ingest_path_cpu.py   # the same bodies there
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from podium.region.ingest import IngestService
from podium.region.rank_store_redis import RedisRankStore

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import Settings
from podium.model import Board
from podium.redis_client import connect
from podium.redis_server import RedisServer


async def measure(bodies: int, entries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=False) as server:
        redis = connect(server.url)
        settings = Settings()
        store = RedisRankStore(redis, settings.ingest, history_backlog_max=10**9)   # history on: the backlog write
        registry = BoardRegistry(redis, SystemClock())
        await registry.create(Board("bench"))
        # no Idempotency-Key in the requests: the idempotency store is never called
        service = IngestService(store, registry, None, settings.ingest, SystemClock(), region="r1")  # type: ignore[arg-type]
        rng = random.Random(1)
        now = time.time_ns() // 10**6
        raw = [orjson.dumps({"entries": [
            {"board": "bench", "player": f"p{rng.randrange(1_000_000)}", "score": rng.randrange(10**9),
             "achieved_at": now, "event_id": f"e{k}-{i}"} for i in range(entries)]}) for k in range(bodies + 1)]
        await service.submit_body(raw[0], scope="bench", body_digest="-")   # warm-up: scripts, registry
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for body in raw[1:]:
            await service.submit_body(body, scope="bench", body_digest="-")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await redis.aclose()
    n = bodies * entries
    return {"entries": n, "cpu_s": round(cpu, 3), "wall_s": round(wall, 2),
            "cpu_us_per_entry": round(cpu / n * 1e6, 2), "entries_per_cpu_s": round(n / cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", type=int, default=60)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    print(asyncio.run(measure(args.bodies, args.entries)))


if __name__ == "__main__":
    main()

"""Region → global convergence lag under load, with 3 regions and the global tier as processes.

Each region receives signed 500-entry batches from its own simulated game server for `seconds`;
the global tier measures, for every change it merges, the time from its regional commit (the
change-stream id) to the merge, in a KLL sketch; we read p50/p99 from `/v1/regions`. Also measures
what exact ranks cost on the global tier: merging a 1M-player board and reading a rank (ZRANK).

    python benchmarks/global_convergence.py [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from podium.global_.merged_store import GlobalStore
from podium.replication.changes import Change

from podium.config import Settings
from podium.devtools.stack import Stack
from podium.model import Board
from podium.redis_client import connect
from podium.redis_server import RedisServer
from podium.signing import signed_headers

REGIONS = ["us-east", "eu-west", "ap-south"]
BATCH_ENTRIES = 500


async def _load(stack: Stack, region: str, seconds: float, seed: int, rate_per_s: float | None) -> int:
    """Post 500-entry batches to one region for `seconds`, paced to `rate_per_s` scores/s (None: flat out)."""
    rng = random.Random(seed)
    sent = 0
    url = stack.region_node(region).url
    started = time.monotonic()
    deadline = started + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            if rate_per_s:
                due = started + sent / rate_per_s
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.time_ns() // 10**6
            entries = [{"board": "arena", "player": f"{region}-{rng.randrange(200_000)}", "score": rng.randrange(10**9),
                        "achieved_at": now, "event_id": f"{seed}-{sent + i}"} for i in range(BATCH_ENTRIES)]
            body = orjson.dumps({"entries": entries})
            headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", now, body)
            r = await http.post("/v1/scores", content=body, headers=headers)
            r.raise_for_status()
            sent += BATCH_ENTRIES
    return sent


async def _measure(stack: Stack, seconds: float, rate_per_region: float | None) -> dict[str, Any]:
    started = time.monotonic()
    sent = await asyncio.gather(*(_load(stack, r, seconds, i, rate_per_region) for i, r in enumerate(REGIONS)))
    elapsed = time.monotonic() - started
    await asyncio.sleep(2.0)  # let the shippers drain
    regions = httpx.get(f"{stack.global_node.url}/v1/regions").json()["regions"]
    return {"rate_per_region": rate_per_region or "unpaced", "scores_sent": sum(sent),
            "scores_per_s": sum(sent) / elapsed,
            "convergence_lag_ms": {r["region"]: r["convergence_lag_ms"] for r in regions}}


async def _rank_cost(players: int, reads: int = 2000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), appendonly=False).start()
        try:
            redis = connect(server.url)
            store, board = GlobalStore(redis), Board("rank-cost")
            rng = random.Random(1)
            t = time.perf_counter()
            for start in range(0, players, 10_000):
                await store.apply(board, [Change("us", board.id, 0, f"p{i}", rng.randrange(10**9), i, i + 1)
                                          for i in range(start, min(players, start + 10_000))])
            merge_s = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(reads):
                await store.entry(board, f"p{rng.randrange(players)}")
            read_ms = (time.perf_counter() - t) / reads * 1000
            used = int((await redis.info("memory"))["used_memory"])
            await redis.aclose()
            return {"players": players, "merge_s": merge_s, "exact_rank_read_ms_mean": read_ms,
                    "redis_used_memory_bytes": used}
        finally:
            server.stop()


def run(seconds: float = 10.0, rank_players: int = 1_000_000, rates: tuple[float | None, ...] = (2000.0, None)) -> dict[str, Any]:
    """Convergence lag at each load rate (scores/s per region; None = as fast as the machine goes)."""
    runs = []
    for rate in rates:
        with tempfile.TemporaryDirectory() as tmp, Stack(REGIONS, Path(tmp)) as stack:
            runs.append(asyncio.run(_measure(stack, seconds, rate)))
    return {"runs": runs, "exact_ranks": asyncio.run(_rank_cost(rank_players))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s of load, 100k-player rank board")
    args = parser.parse_args()
    result = run(3.0, 100_000, (2000.0,)) if args.quick else run(args.seconds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    Settings()  # fail fast on a broken environment before starting processes
    main()

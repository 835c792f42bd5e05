"""One feed event's fan-out on one Redis against the same contest split over `shards` Redis
processes (each shard fanning out its share at the same time): the measurement behind splitting a
contest's board over the nodes of a cluster. Not the store's code path yet: the shards here are
plain contests on separate servers, built and fanned out by the store's real scripts.

The same seeded teams (22-player match, 11 per team, captain ×2, vice ×1.5) are written into one
server whole and into `shards` servers by `crc32(entry) % shards`; each is indexed by the real
`build_index` (the shards concurrently). Then `events` seeded events (random players) are applied
with the real `fan_out`, each event to the single server and to every shard at once, the order of
the two alternating per event so both meet the same load. Per event: wall seconds and Redis CPU
seconds (`used_cpu_user + used_cpu_sys`; the shards' sum and their largest). Exactness: the shards'
boards merged must equal the single board, every entry's points and the whole order (checked).

    python -m podium.devtools.bench.contest_fanout_shards --teams 1000000 --shards 3 --events 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from podium.redis_server import RedisServer
from podium.region.contests.model import POINT_SCALE
from podium.region.contests.store_redis import RedisContestStore, contest_key

PLAYERS = [f"p{i:02d}" for i in range(22)]
FILL_ENTRIES = 10_000
READ_PAGE = 20_000
CONTEST = "big"


def shard_of(entry: str, shards: int) -> int:
    return zlib.crc32(entry.encode()) % shards


async def _fill(single: aioredis.Redis, parts: list[aioredis.Redis], teams: int, seed: int) -> None:
    rnd = random.Random(seed)
    for start in range(0, teams, FILL_ENTRIES):
        whole: dict[Any, Any] = {}
        split: list[dict[Any, Any]] = [{} for _ in parts]
        for n in range(start, min(teams, start + FILL_ENTRIES)):
            picked = rnd.sample(PLAYERS, 11)
            mult = dict.fromkeys(picked, POINT_SCALE) | {picked[0]: 200, picked[1]: 150}
            entry, comp = f"u{n}/t", "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mult.items()))
            whole[entry] = split[shard_of(entry, len(parts))][entry] = comp
        await single.hset(contest_key(CONTEST, "entries"), mapping=whole)
        for redis, mapping in zip(parts, split, strict=True):
            if mapping:
                await redis.hset(contest_key(CONTEST, "entries"), mapping=mapping)


async def _cpu(redis: aioredis.Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _timed(servers: list[aioredis.Redis], work: Any) -> tuple[float, list[float], Any]:
    """`work` run once; its wall seconds, each server's Redis CPU seconds, its result."""
    cpu0 = [await _cpu(r) for r in servers]
    t0 = time.perf_counter()
    result = await work
    wall = time.perf_counter() - t0
    return wall, [await _cpu(r) - c for r, c in zip(servers, cpu0, strict=True)], result


async def _all(work: Any) -> list[Any]:
    """Every coroutine of `work` at once, started only when this is awaited."""
    return list(await asyncio.gather(*work))


async def _board(redis: aioredis.Redis) -> list[tuple[bytes, float]]:
    out: list[tuple[bytes, float]] = []
    start = 0
    while True:
        page: list[Any] = await redis.zrange(
            contest_key(CONTEST, "board"), start, start + READ_PAGE - 1, withscores=True
        )
        out += [(bytes(member), float(score)) for member, score in page]
        if len(page) < READ_PAGE:
            return out
        start += READ_PAGE


async def _boards_equal(single: aioredis.Redis, parts: list[aioredis.Redis]) -> bool:
    """The merged shards in Redis's own order (score, then member bytes) equal the single board."""
    merged = [row for redis in parts for row in await _board(redis)]
    merged.sort(key=lambda row: (row[1], row[0]))
    return merged == await _board(single)


async def run(teams: int, shards: int, events: int, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="podium-contest-shards-") as tmp:
        servers = [RedisServer(Path(tmp) / f"r{i}", appendonly=False) for i in range(shards + 1)]
        try:
            for server in servers:
                server.start()
            clients = [aioredis.Redis.from_url(s.url, socket_timeout=3600) for s in servers]
            single, parts = clients[0], clients[1:]
            stores = [RedisContestStore(c) for c in clients]
            try:
                t0 = time.perf_counter()
                await _fill(single, parts, teams, seed)
                fill_s = time.perf_counter() - t0
                index_single = await _timed([single], stores[0].build_index(CONTEST))
                index_parts = await _timed(parts, _all(s.build_index(CONTEST) for s in stores[1:]))
                rnd = random.Random(seed)
                rows = []
                for e in range(events):
                    player, delta = rnd.choice(PLAYERS), rnd.choice((1, 2, 4, 6, -1))
                    event = (CONTEST, f"e{e}", player, delta)
                    if e % 2 == 0:  # (gather starts its tasks when called: one side at a time)
                        a = await _timed([single], stores[0].fan_out(*event))
                        b = await _timed(parts, _all(s.fan_out(*event) for s in stores[1:]))
                    else:
                        b = await _timed(parts, _all(s.fan_out(*event) for s in stores[1:]))
                        a = await _timed([single], stores[0].fan_out(*event))
                    rows.append(
                        {
                            "player": player,
                            "teams_updated": a[2],
                            "shard_teams_updated": list(b[2]),
                            "single_s": round(a[0], 3),
                            "single_redis_cpu_s": round(a[1][0], 3),
                            "sharded_s": round(b[0], 3),
                            "shard_redis_cpu_s": [round(c, 3) for c in b[1]],
                        }
                    )
                equal = await _boards_equal(single, parts)
            finally:
                for c in clients:
                    await c.aclose()
        finally:
            for server in servers:
                server.stop()
    updated = sum(r["teams_updated"] for r in rows)
    single_s = sum(r["single_s"] for r in rows)
    sharded_s = sum(r["sharded_s"] for r in rows)
    single_cpu = sum(r["single_redis_cpu_s"] for r in rows)
    shard_cpu_max = sum(max(r["shard_redis_cpu_s"]) for r in rows)
    return {
        "teams": teams,
        "shards": shards,
        "events": rows,
        "boards_equal": equal,
        "sums_equal": all(r["teams_updated"] == sum(r["shard_teams_updated"]) for r in rows),
        "fill_s": round(fill_s, 1),
        "index_single_s": round(index_single[0], 1),
        "index_sharded_s": round(index_parts[0], 1),
        "single_teams_per_s": round(updated / single_s) if single_s else None,
        "sharded_teams_per_s": round(updated / sharded_s) if sharded_s else None,
        "wall_ratio": round(single_s / sharded_s, 2) if sharded_s else None,
        "single_redis_cpu_us_per_team": round(single_cpu * 1e6 / updated, 2) if updated else None,
        "shard_redis_cpu_us_per_team": round(
            sum(sum(r["shard_redis_cpu_s"]) for r in rows) * 1e6 / updated, 2
        )
        if updated
        else None,
        # one event at 12M teams (6M updated): the largest shard's Redis CPU per team updated, scaled
        "extrapolated_12m_largest_shard_cpu_s": round(shard_cpu_max / updated * 6_000_000, 1)
        if updated
        else None,
        "extrapolated_12m_single_cpu_s": round(single_cpu / updated * 6_000_000, 1) if updated else None,
        "load": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.teams, args.shards, args.events, args.seed)), indent=2))


if __name__ == "__main__":
    main()

"""Redis CPU per team of one feed event's fan-out, script against script on the same board.

One contest of `teams` teams (22-player match, 11 per team, captain ×2, vice ×1.5) is written
straight into Redis and indexed by the real `build_index`; its board and index are then copied once
per variant (COPY), and `events` seeded events (random players) are applied to every copy in turn,
event by event, so each variant meets the same boards under the same load. Per variant: Redis CPU
(`used_cpu_user + used_cpu_sys`) and EVALSHA time (INFO commandstats) per updated team, and teams
per second of wall time. The boards must end equal (checked), so a variant is only faster if exact.

    python -m podium.devtools.bench.contest_fanout_cpu --teams 100000 --events 6
    python -m podium.devtools.bench.contest_fanout_cpu --teams 20000 --events 2 --callgrind now
        # instructions per team inside the fan-out's EVAL calls (valgrind; load-independent)

Variants: "before" (the fan-out script before this change) and "now" (the store's script), on
copies of the same indexed board.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from podium.redis_server import free_port, redis_server_binary
from podium.region.contests.model import POINT_SCALE
from podium.region.contests.store_redis import (
    _FANOUT,
    FANOUT_CHUNK_ENTRIES,
    RedisContestStore,
    contest_key,
)

PLAYERS = [f"p{i:02d}" for i in range(22)]
FILL_ENTRIES = 10_000
KEEP: Path | None = None           # --keep: where to copy callgrind's output

# The fan-out script before this change, verbatim: one ZINCRBY per team, its increment a Lua
# number (formatted by Redis on every call).
FANOUT_BEFORE = """
local pos = redis.call('GET', KEYS[1])
if pos == 'done' then return 0 end
pos = tonumber(pos or '0')
local n = tonumber(ARGV[2])
local rows = redis.call('LRANGE', KEYS[2], 2 * pos, 2 * (pos + n) - 1)
local delta = tonumber(ARGV[1])
for i = 1, #rows, 2 do
  redis.call('ZINCRBY', KEYS[3], -delta * tonumber(rows[i]), rows[i + 1])
end
local got = #rows / 2
if got < n then redis.call('SET', KEYS[1], 'done') else redis.call('SET', KEYS[1], pos + got) end
if got > 0 then redis.call('INCR', KEYS[4]) end
return got
"""

VARIANTS = ("before", "now")




def _start(data: Path, callgrind: Path | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [redis_server_binary(), "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(data),
           "--lua-time-limit", "0"]
    if callgrind is not None:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind}", "--toggle-collect=evalCommand",
               *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port


async def _connect(port: int) -> aioredis.Redis:
    redis = aioredis.Redis(port=port, socket_timeout=3600)
    for _ in range(1200):                  # valgrind starts slowly
        try:
            await redis.ping()
            return redis
        except (OSError, RedisError):
            await asyncio.sleep(0.1)
    raise RuntimeError("redis-server did not start")


async def fill(redis: aioredis.Redis, contest: str, teams: int, seed: int) -> None:
    """Entries written straight into the contest hash (22 players, 11 per team, captain, vice)."""
    rnd = random.Random(seed)
    for start in range(0, teams, FILL_ENTRIES):
        mapping: dict[Any, Any] = {}
        for n in range(start, min(teams, start + FILL_ENTRIES)):
            picked = rnd.sample(PLAYERS, 11)
            mult = dict.fromkeys(picked, POINT_SCALE) | {picked[0]: 200, picked[1]: 150}
            mapping[f"u{n}/t"] = "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mult.items()))
        await redis.hset(contest_key(contest, "entries"), mapping=mapping)


async def index(redis: aioredis.Redis, contest: str) -> tuple[float, float]:
    """The real index build; its wall and Redis CPU seconds."""
    cpu0, _ = await _cpu(redis)
    t0 = time.perf_counter()
    await RedisContestStore(redis).build_index(contest)
    wall = time.perf_counter() - t0
    cpu1, _ = await _cpu(redis)
    return wall, cpu1 - cpu0


async def _copy(redis: aioredis.Redis, src: str, dst: str) -> None:
    await redis.copy(contest_key(src, "board"), contest_key(dst, "board"))
    for player in PLAYERS:
        await redis.copy(contest_key(src, f"idx:{player}"), contest_key(dst, f"idx:{player}"))


async def _cpu(redis: aioredis.Redis) -> tuple[float, float]:
    info = await redis.info("all")
    evalsha = info.get("cmdstat_evalsha", {}).get("usec", 0) + info.get("cmdstat_eval", {}).get("usec", 0)
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"]), evalsha / 1e6


async def _fan_out(redis: aioredis.Redis, variant: str, event: str, player: str, delta: int, chunk: int,
                   use_eval: bool) -> int:
    script = FANOUT_BEFORE if variant == "before" else _FANOUT
    args: list[str | int] = [contest_key(variant, f"ev:{event}"), contest_key(variant, f"idx:{player}"),
            contest_key(variant, "board"), contest_key(variant, "ver"), delta, chunk]
    sha = await redis.script_load(script)
    total = 0
    while True:
        got = int(await (redis.eval(script, 4, *args) if use_eval else redis.evalsha(sha, 4, *args)))
        total += got
        if got < chunk:
            return total


async def _boards_equal(redis: aioredis.Redis, contests: list[str]) -> bool:
    step, start = 20_000, 0
    while True:
        pages = [await redis.zrange(contest_key(c, "board"), start, start + step - 1, withscores=True) for c in contests]
        if any(p != pages[0] for p in pages):
            return False
        if len(pages[0]) < step:
            return True
        start += step


async def run(teams: int, events: int, variants: list[str], chunk: int = FANOUT_CHUNK_ENTRIES, seed: int = 7,
              callgrind: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="podium-contest-cpu-") as tmp:
        server, port = _start(Path(tmp), None)
        try:
            redis = await _connect(port)
            try:
                await fill(redis, "src", teams, seed)
                index_s, index_cpu_s = await index(redis, "src")
                for name in variants:
                    await _copy(redis, "src", name)
                mem = await redis.info("memory")
                if callgrind is None:
                    return {"index_s": round(index_s, 2), "index_redis_cpu_s": round(index_cpu_s, 2),
                            "redis_used_memory_mb": round(int(mem["used_memory"]) / 2**20),
                            **await _measure(redis, events, variants, chunk, seed)}
                await redis.save()            # the boards, loaded by the valgrind server below
                await redis.shutdown(nosave=True)
            finally:
                await redis.aclose()
        finally:
            _stop(server)
        return await _callgrind(Path(tmp), events, callgrind, chunk, seed)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()                # Redis exits cleanly on SIGTERM (callgrind then writes its counts)
    try:
        server.wait(600)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def _callgrind(data: Path, events: int, variant: str, chunk: int, seed: int) -> dict[str, Any]:
    """The same events under callgrind, counting only EVAL (the measured calls; set-up used EVALSHA)."""
    out = data / "callgrind.out"
    server, port = _start(data, out)
    try:
        redis = await _connect(port)
        try:
            result = await _measure(redis, events, [variant], chunk, seed, use_eval=True)
            await redis.shutdown(nosave=True)
        finally:
            await redis.aclose()
    finally:
        _stop(server)
    total = next(int(line.split()[1]) for line in out.read_text().splitlines()
                 if line.startswith(("summary:", "totals:")))
    result["instructions_per_team"] = round(total / max(1, result["variants"][variant]["teams"]))
    if KEEP is not None:                # for `callgrind_annotate --inclusive=yes <file>`
        shutil.copyfile(out, KEEP)
    return result


async def _measure(redis: aioredis.Redis, events: int, variants: list[str], chunk: int, seed: int,
                   use_eval: bool = False) -> dict[str, Any]:
    rnd = random.Random(seed + 1)
    plan = [(rnd.choice(PLAYERS), rnd.choice([1, 2, 4, 6, -1]) * 100) for _ in range(events)]
    stats: dict[str, dict[str, Any]] = {name: {"teams": 0, "redis_cpu_s": 0.0, "evalsha_s": 0.0, "wall_s": 0.0} for name in variants}
    for k, (player, delta) in enumerate(plan):
        for name in variants:
            cpu0, ev0 = await _cpu(redis)
            t0 = time.perf_counter()
            got = await _fan_out(redis, name, f"e{k}", player, delta, chunk, use_eval)
            wall = time.perf_counter() - t0
            cpu1, ev1 = await _cpu(redis)
            s = stats[name]
            s["teams"] += got
            s["redis_cpu_s"] += cpu1 - cpu0
            s["evalsha_s"] += ev1 - ev0
            s["wall_s"] += wall
    for s in stats.values():
        n = max(1, s["teams"])
        s["redis_cpu_us_per_team"] = round(s["redis_cpu_s"] * 1e6 / n, 2)
        s["evalsha_us_per_team"] = round(s["evalsha_s"] * 1e6 / n, 2)
        s["teams_per_s"] = round(n / s["wall_s"]) if s["wall_s"] else None
        for key in ("redis_cpu_s", "evalsha_s", "wall_s"):
            s[key] = round(s[key], 3)
    return {"teams": await redis.zcard(contest_key(variants[0], "board")), "events": events, "chunk": chunk,
            "boards_equal": await _boards_equal(redis, variants), "variants": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=FANOUT_CHUNK_ENTRIES)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--callgrind", choices=VARIANTS, help="one variant under valgrind callgrind")
    parser.add_argument("--keep", type=Path, help="copy callgrind's output file here")
    args = parser.parse_args()
    global KEEP
    KEEP = args.keep
    print(json.dumps(asyncio.run(run(args.teams, args.events, args.variants.split(","), args.chunk,
                                     callgrind=args.callgrind)), indent=1))


if __name__ == "__main__":
    main()

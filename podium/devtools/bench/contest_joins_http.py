"""joinContest over HTTP: `wrk` posts the GraphQL mutation to a real `podium serve` process (ledger on
SQLite in its data dir, or PostgreSQL with `--postgres`), each request a distinct (player, team),
and reports joins per second (wall) and per server CPU-second (the server's CPU read from /proc),
then GET /healthz on the same server and connections: the most a request can do there. Teams are saved beforehand in process on the same Redis (not measured).

    python -m podium.devtools.bench.contest_joins_http [--teams 60000] [--seconds 5] [--connections 256]
        [--postgres] [--profile FILE]   # py-spy on the server during the joins (collapsed stacks)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
import psutil
import redis.asyncio as aioredis

from podium.clock import SystemClock
from podium.devtools.bench import wrk
from podium.devtools.bench.stack import BenchStack
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.service import ContestService
from podium.region.contests.store_redis import RedisContestStore, contest_key

PLAYERS = [f"p{i:02d}" for i in range(22)]
ROLES = ("wk", "bat", "ar", "bowl")
MUTATION = "mutation($c:String!,$t:String!){joinContest(contest:$c,team:$t){entry joined}}"
JWT_SECRET = "bench-jwt-secret-of-32-bytes-or-more"

# Request n (counted per wrk thread) joins team t of player u<n>, with u<n>'s own JWT (line n of the
# tokens file): what a player's client sends.
_SCRIPT = """
local n = -1
local tokens = {}
local body = '{"query":"%s","variables":{"c":"jc","t":"t"}}'
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
request = function()
  n = (n + 1) %% #tokens
  wrk.headers["Authorization"] = "Bearer " .. tokens[n + 1]
  return wrk.format(nil, "/graphql", nil, body)
end
"""


async def _prepare(redis_url: str, teams: int, tmp: Path) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    ledger = SqliteLedger(tmp / "prepare.db")  # saves post nothing; the service needs one
    await ledger.open()
    svc = ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock())
    await svc.declare_match(
        {
            "id": "jm",
            "deadline_ms": int(time.time() * 1000) + 3_600_000,
            "players": [{"id": p, "role": ROLES[i % 4], "credits": 8} for i, p in enumerate(PLAYERS)],
            "scoring": {"version": 1, "points": {"six": 6}},
        }
    )
    await svc.create_contest(
        {
            "id": "jc",
            "match": "jm",
            "capacity": teams,
            "entry_fee": 100,
            "prizes": [],
            "rules": {"team_size": 11, "credit_cap": 100},
        }
    )
    rnd = random.Random(2)
    todo = iter(range(teams))

    async def worker() -> None:
        for n in todo:
            picked = rnd.sample(PLAYERS, 11)
            await svc.save_team(
                f"u{n}",
                {"id": "t", "match": "jm", "players": picked, "captain": picked[0], "vice": picked[1]},
            )

    await asyncio.gather(*(worker() for _ in range(64)))
    await svc.aclose()
    await ledger.close()
    await redis.aclose()


def _cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def run(
    teams: int = 60_000,
    seconds: float = 5.0,
    connections: int = 256,
    postgres: bool = False,
    profile: Path | None = None,
) -> dict[str, Any]:
    env = {"PODIUM_JWT_SECRET": JWT_SECRET}
    pg_server = None
    if postgres:
        from podium.devtools.postgres_server import PostgresServer

        pg_server = PostgresServer().start()
        env["PODIUM_CONTESTS__LEDGER_URL"] = pg_server.dsn
    try:
        with BenchStack(extra_env=env) as stack, tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_prepare(stack.redis.url, teams, Path(tmp)))
            assert stack.process is not None
            pid = stack.process.pid
            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "-p",
                        str(pid),
                        "-f",
                        "raw",
                        "-o",
                        str(profile),
                        "-d",
                        str(int(seconds) + 2),
                        "-r",
                        "200",
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            script = _SCRIPT % MUTATION.replace('"', '\\"')
            tokens = Path(tmp) / "tokens"
            expires = int(time.time()) + 3600
            tokens.write_text(
                "".join(jwt.encode({"sub": f"u{n}", "exp": expires}, JWT_SECRET) + "\n" for n in range(teams))
            )
            # what the server burns with no request (background tasks), subtracted from both phases
            idle0 = _cpu_s(pid)
            time.sleep(seconds)
            idle_per_s = (_cpu_s(pid) - idle0) / seconds
            cpu0, load0 = _cpu_s(pid), os.getloadavg()[0]
            out = wrk.run(stack.url, script, seconds=seconds, connections=connections, args=[str(tokens)])
            cpu = _cpu_s(pid) - cpu0 - idle_per_s * out["seconds"]
            # the same server's ceiling, same connections: GET /healthz (no GraphQL, no Redis)
            cpu1 = _cpu_s(pid)
            health = wrk.run(f"{stack.url}/healthz", "", seconds=seconds, connections=connections)
            health_cpu = _cpu_s(pid) - cpu1 - idle_per_s * health["seconds"]
            if spy is not None:
                spy.wait()
            joined = asyncio.run(_count_entries(stack.redis.url))
    finally:
        if pg_server is not None:
            pg_server.stop()
    requests = out["requests"]
    return {
        "ledger": "postgresql" if postgres else "sqlite",
        "teams": teams,
        "connections": connections,
        "requests": requests,
        "non_2xx": out["non_2xx"],
        "errors": out["errors"],
        "entries": joined,
        "joins_per_s": out["rps"],
        "joins_per_server_cpu_s": round(requests / cpu) if cpu else None,
        "server_cpu_us_per_join": round(cpu * 1e6 / requests, 1) if requests else None,
        "p50_ms": out["p50_ms"],
        "p99_ms": out["p99_ms"],
        "load": round(load0, 1),
        "server_idle_cpu_ms_per_s": round(idle_per_s * 1000, 1),
        "healthz_per_s": health["rps"],
        "healthz_per_server_cpu_s": round(health["requests"] / health_cpu) if health_cpu else None,
        "server_cpu_us_per_healthz": round(health_cpu * 1e6 / health["requests"], 1)
        if health["requests"]
        else None,
    }


async def _count_entries(redis_url: str) -> int:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        return int(await redis.hlen(contest_key("jc", "entries")))
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    print(json.dumps(run(args.teams, args.seconds, args.connections, args.postgres, args.profile), indent=2))


if __name__ == "__main__":
    main()

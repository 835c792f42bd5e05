"""Joins over HTTP, before/after in one run: `wrk` posts joins to several `podium serve` processes
(each with its own Redis and ledger, the same saved teams), round by round, the variants' order
rotated each round, each round a fresh slice of players (every request a new (player, team)):

- `before`: joinContest in GraphQL as on main before this change (mutations on Strawberry's
  general path, every JWT decoded: `api.graphql_fast_path=false`, `api.jwt_claims_cache_max=0`);
- `graphql`: joinContest with the defaults (the mutation fast path, the verified-JWT cache);
- `rest`: `POST /v1/contests/{contest}/entries` with the defaults;
- `rest_warm`, `graphql_warm` (not run by default): the same, after every player's token made one
  request (a join with an empty body: authenticated, then 400) before the rounds, so the JWT
  cache holds it.

Reported per variant: joins per second (wall), per server CPU-second (the server's idle CPU
subtracted) and CPU per join, summed over the rounds, with each round's figures; the load.
Every player's token is new to the server here (one join per player), so the JWT cache misses:
`token_cpu` measures in process what a hit saves. `--postgres`: the ledger on a real PostgreSQL.

    python -m podium.devtools.bench.contest_joins_ab [--teams-per-round 4000] [--rounds 3]
        [--seconds 3] [--connections 64] [--postgres] [--variants before,graphql,rest]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt

from podium.devtools.bench import wrk
from podium.devtools.bench.contest_joins_http import (
    _SCRIPT,
    JWT_SECRET,
    MUTATION,
    _count_entries,
    _cpu_s,
    _prepare,
)
from podium.devtools.bench.stack import BenchStack

VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "before": (
        {"PODIUM_API__GRAPHQL_FAST_PATH": "false", "PODIUM_API__JWT_CLAIMS_CACHE_MAX": "0"},
        "graphql",
    ),
    "graphql": ({}, "graphql"),
    "rest": ({}, "rest"),
    # the REST join by clients the server has seen: each token made one request before the rounds
    # (their entries must outlive the warm-up: the TTL is raised from its default 60 s)
    "rest_warm": ({"PODIUM_API__JWT_CLAIMS_CACHE_TTL_MS": "3600000"}, "rest"),
    "graphql_warm": ({"PODIUM_API__JWT_CLAIMS_CACHE_TTL_MS": "3600000"}, "graphql"),
}
WARM_CONCURRENCY = 32

# wrk: request n of a round (from `offset`) joins team t of player u<n> with u<n>'s JWT
_REST_SCRIPT = """
local n = -1
local offset = 0
local tokens = {}
local body = '{"team":"t"}'
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  offset = tonumber(args[2])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
request = function()
  n = (n + 1) % #tokens
  wrk.headers["Authorization"] = "Bearer " .. tokens[(offset + n) % #tokens + 1]
  return wrk.format(nil, "/v1/contests/jc/entries", nil, body)
end
"""


def _graphql_script() -> str:
    base = _SCRIPT % MUTATION.replace('"', '\\"')
    return (
        base.replace("local n = -1", "local n = -1\nlocal offset = 0")
        .replace('wrk.method = "POST"', 'offset = tonumber(args[2])\n  wrk.method = "POST"')
        .replace("tokens[n + 1]", "tokens[(offset + n) % #tokens + 1]")
    )


def token_cpu(count: int = 2000) -> dict[str, float]:
    """CPU per authenticated request spent on its JWT, in process: a decode (cache off) vs a hit."""
    from podium.clock import SystemClock
    from podium.config import Settings
    from podium.gql import auth

    class Service:
        settings = Settings(jwt_secret=JWT_SECRET)
        clock = SystemClock()

    exp = int(time.time()) + 3600
    tokens = [jwt.encode({"sub": f"u{n}", "exp": exp}, JWT_SECRET) for n in range(count)]

    async def measure() -> float:
        started = time.process_time()
        for token in tokens:
            await auth.token_caller(token, Service)
        return (time.process_time() - started) * 1e6 / count

    auth._claims.clear()
    miss = asyncio.run(measure())  # every token new: verified, then kept
    hit = asyncio.run(measure())  # the same tokens again: served from the cache
    auth._claims.clear()
    return {"decode_us": round(miss, 1), "cache_hit_us": round(hit, 1)}


async def _warm(url: str, tokens: list[str]) -> None:
    """One request per token (a join with an empty body: authenticated, then refused, 400)."""
    import httpx

    todo = iter(tokens)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def worker() -> None:
            for token in todo:
                await client.post(
                    "/v1/contests/jc/entries",
                    json={},
                    headers={"Authorization": f"Bearer {token}"},
                )

        await asyncio.gather(*(worker() for _ in range(WARM_CONCURRENCY)))


def run(
    teams_per_round: int = 4000,
    rounds: int = 3,
    seconds: float = 3.0,
    connections: int = 64,
    postgres: bool = False,
    variants: tuple[str, ...] = ("before", "graphql", "rest"),
) -> dict[str, Any]:
    teams = teams_per_round * rounds
    pg_servers: list[Any] = []
    stacks: dict[str, BenchStack] = {}
    out: dict[str, Any] = {
        "teams_per_round": teams_per_round,
        "rounds": rounds,
        "seconds": seconds,
        "connections": connections,
        "ledger": "postgresql" if postgres else "sqlite",
        "token_cpu": token_cpu(),
    }
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        for name in variants:
            env = {"PODIUM_JWT_SECRET": JWT_SECRET, **VARIANTS[name][0]}
            if postgres:
                from podium.devtools.postgres_server import PostgresServer

                pg = PostgresServer().start()
                pg_servers.append(pg)
                stack.callback(pg.stop)
                env["PODIUM_CONTESTS__LEDGER_URL"] = pg.dsn
            stacks[name] = stack.enter_context(BenchStack(extra_env=env))
            asyncio.run(_prepare(stacks[name].redis.url, teams, Path(tmp)))
        tokens = Path(tmp) / "tokens"
        expires = int(time.time()) + 3600
        tokens.write_text(
            "".join(jwt.encode({"sub": f"u{n}", "exp": expires}, JWT_SECRET) + "\n" for n in range(teams))
        )
        for name, bench in stacks.items():
            if name.endswith("_warm"):
                asyncio.run(_warm(bench.url, tokens.read_text().split()))
        idle: dict[str, float] = {}
        for name, bench in stacks.items():
            assert bench.process is not None
            cpu0 = _cpu_s(bench.process.pid)
            time.sleep(2)
            idle[name] = (_cpu_s(bench.process.pid) - cpu0) / 2
        per: dict[str, list[dict[str, Any]]] = {name: [] for name in stacks}
        names = list(stacks)
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                bench = stacks[name]
                assert bench.process is not None
                script = _REST_SCRIPT if VARIANTS[name][1] == "rest" else _graphql_script()
                cpu0, load = _cpu_s(bench.process.pid), os.getloadavg()[0]
                got = wrk.run(
                    bench.url,
                    script,
                    seconds=seconds,
                    connections=connections,
                    args=[str(tokens), str(r * teams_per_round)],
                )
                cpu = _cpu_s(bench.process.pid) - cpu0 - idle[name] * got["seconds"]
                per[name].append(
                    {
                        "round": r,
                        "requests": got["requests"],
                        "non_2xx": got["non_2xx"],
                        "errors": got["errors"],
                        "joins_per_s": got["rps"],
                        "server_cpu_us_per_join": round(cpu * 1e6 / got["requests"], 1)
                        if got["requests"]
                        else None,
                        "p50_ms": got["p50_ms"],
                        "p99_ms": got["p99_ms"],
                        "load": round(load, 1),
                        "_cpu": cpu,
                        "_seconds": got["seconds"],
                    }
                )
        for name, bench in stacks.items():
            rows = per[name]
            requests = sum(x["requests"] for x in rows)
            cpu = sum(x.pop("_cpu") for x in rows)
            wall = sum(x.pop("_seconds") for x in rows)
            out[name] = {
                "requests": requests,
                "entries": asyncio.run(_count_entries(bench.redis.url)),
                "non_2xx": sum(x["non_2xx"] for x in rows),
                "errors": sum(x["errors"] for x in rows),
                "joins_per_s": round(requests / wall, 1) if wall else None,
                "joins_per_server_cpu_s": round(requests / cpu) if cpu > 0 else None,
                "server_cpu_us_per_join": round(cpu * 1e6 / requests, 1) if requests else None,
                "server_idle_cpu_ms_per_s": round(idle[name] * 1000, 1),
                "rounds": rows,
            }
    if "before" in out:
        base = out["before"]["server_cpu_us_per_join"]
        for name in stacks:
            if name != "before" and base and out[name]["server_cpu_us_per_join"]:
                out[name]["cpu_per_join_vs_before"] = round(out[name]["server_cpu_us_per_join"] / base, 3)
                out[name]["joins_per_s_vs_before"] = round(
                    out[name]["joins_per_s"] / out["before"]["joins_per_s"], 3
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams-per-round", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--variants", default="before,graphql,rest")
    args = parser.parse_args()
    if not wrk.available():
        raise SystemExit("wrk is not installed (.ci/setup-bench.sh)")
    print(
        json.dumps(
            run(
                args.teams_per_round,
                args.rounds,
                args.seconds,
                args.connections,
                args.postgres,
                tuple(args.variants.split(",")),
            ),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

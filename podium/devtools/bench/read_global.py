"""CPU per GraphQL read of the global tier in process, compiled plans on against off, for documents
with enum variables (`$c: Consistency`) and without, and the two operation documents of
graphql/operations/global/ (GlobalLeaderboard: two root fields; GlobalPlayer: `contributions`).

    python -m podium.devtools.bench.read_global --players 10000 --requests 2000

Two global apps (plans on, plans off: the fast path) run in this process on one Redis holding one
merged board (`--players` rows replicated from one region). Each request is an ASGI call as
Hypercorn would make it, every body distinct (an undeclared variable, which graphql-core ignores), so each is executed; the apps
are measured in alternating blocks, and the figure is this process's CPU time per request
(`time.process_time`), which other processes on a shared machine barely move."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from podium.config import Settings
from podium.devtools.bench.read_chain import call
from podium.global_.server import apply_replicated, create_global_app
from podium.gql.persisted import default_operations_dir
from podium.model import Board, Operator
from podium.redis_server import RedisServer

BOARD = "world"
OPERATIONS = (default_operations_dir() or Path("graphql/operations")) / "global"
DOCUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "top100_enum": (("query($b:String!,$c:Consistency!){leaderboard(board:$b, first:100, consistency:$c)"
                    "{edges{node{rank player score precision}}}}"), {"c": "EVENTUAL"}),
    "top100": ("query($b:String!){leaderboard(board:$b, first:100){edges{node{rank player score precision}}}}",
               {}),
    "entry_enum": (("query($p:String!,$b:String!,$c:Consistency){player(id:$p){entry(board:$b, consistency:$c)"
                   "{rank score precision errorBound}}}"), {"c": "EVENTUAL"}),
    "GlobalLeaderboard": ((OPERATIONS / "GlobalLeaderboard.graphql").read_text(), {"first": 100}),
    "GlobalPlayer": ((OPERATIONS / "GlobalPlayer.graphql").read_text(), {}),
}


def settings_for(redis_url: str, plans: bool) -> Settings:
    return Settings(redis_url=redis_url, port=0, replication={"secret": "bench"},  # type: ignore[arg-type]
                    api={"rate_limit_per_s": 1e9, "rate_limit_burst": 10**9,  # type: ignore[arg-type]
                         "response_cache_ttl_ms": 0, "graphql_compiled_plans": plans})


@asynccontextmanager
async def running(settings: Settings) -> Any:
    app: Starlette = create_global_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def load(app: Starlette, players: int) -> None:
    board = Board(BOARD, operator=Operator.BEST, public_read=True)
    now_ms = int(time.time() * 1000)
    changes = [[board.id, board.season, f"p{i}", random.randrange(1_000_000), now_ms - 1000, (now_ms << 12) + i]
               for i in range(players)]
    await apply_replicated(app.state.service, {"region": "eu", "board": board.to_dict(), "changes": changes,
                                               "feeds": {}})


async def measure(redis_url: str, players: int, requests: int, blocks: int) -> dict[str, Any]:
    cpu_us: dict[str, dict[str, list[float]]] = {d: {"plans": [], "fast": []} for d in DOCUMENTS}
    async with AsyncExitStack() as stack:
        apps = {label: await stack.enter_async_context(running(settings_for(redis_url, label == "plans")))
                for label in ("plans", "fast")}
        for app in apps.values():   # each process merges the same batch (idempotent): every one knows the region
            await load(app, players)
        for name, (query, extra) in DOCUMENTS.items():
            def make(query: str = query, extra: dict[str, Any] = extra) -> tuple[str, bytes, bytes, str]:
                player = f"p{random.randrange(players)}"   # undeclared variables are ignored (by plans too)
                variables = {"b": BOARD, "board": BOARD, "p": player, "id": player, "u": random.randrange(10**9),
                             **extra}
                return "POST", b"", orjson.dumps({"query": query, "variables": variables}), "/graphql"
            for app in apps.values():
                for _ in range(20):
                    status, body = await call(app, make())
                    assert status == 200 and b'"errors"' not in body, body[:300]
            per_block = max(1, requests // blocks)
            for _ in range(blocks):
                for label, app in apps.items():
                    batch = [make() for _ in range(per_block)]
                    started = time.process_time()
                    for request in batch:
                        await call(app, request)
                    cpu_us[name][label].append(1e6 * (time.process_time() - started) / per_block)
        view = next(r.endpoint for r in apps["plans"].routes if getattr(r, "path", None) == "/graphql")
        served = view.plans.served   # requests a plan answered: every measured one, if the documents are planned
    out: dict[str, Any] = {"planned_requests": served}
    for name, by_label in cpu_us.items():
        out[name] = {label: round(statistics.median(v), 1) for label, v in by_label.items()}
        out[name]["fast_over_plans"] = round(out[name]["fast"] / out[name]["plans"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000, help="per document and app")
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podium-read-global-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", appendonly=False)
        redis.start()
        try:
            result = asyncio.run(measure(redis.url, args.players, args.requests, args.blocks))
        finally:
            redis.stop()
    print(json.dumps({"unit": "CPU µs per request (median of blocks)", **result}, indent=1))


if __name__ == "__main__":
    main()

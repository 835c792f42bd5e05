"""CPU per GraphQL read through the region app's whole ASGI stack, general chain against one pass.

    python -m podium.devtools.bench.read_chain --players 100000 --requests 2000

Both apps (`api.graphql_one_pass` off and on; `--chains` picks others, e.g. without the lean Redis
connection) run in this process on one Redis holding the bench's
board; each request is an ASGI call with the scope Hypercorn would build, so the figure is the
server's own CPU for a read (middleware, view, plan, Redis client) without sockets or the load
generator. The two apps are measured in alternating blocks and the figure is this process's CPU
time (`time.process_time`) per request, which other processes on a shared machine barely move:
the ratio between the chains is the result. Rate limits are on (lifted high), as in the bench, so
each request pays its token-bucket call. `--only one_pass` runs one chain (to profile it with
`py-spy record -- python -m podium.devtools.bench.read_chain --only one_pass`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette

from podium.config import Settings
from podium.devtools.bench.read_queries import AROUND, RANK_SCORE, TOP100
from podium.devtools.bench.scenarios import _load_boards
from podium.devtools.bench.stack import ADMIN_KEY, BOARDS, GAME_KEY_ID, GAME_SECRET
from podium.redis_server import RedisServer
from podium.region.api.app import create_app

# chain -> (api.graphql_one_pass, redis_lean_pending_max); "one_pass_no_lean" reads through redis-py
# alone (no lean connection, podium/redis_lean.py): `--chains one_pass one_pass_no_lean` compares them
CHAINS = {"general": (False, 1024), "one_pass": (True, 1024), "one_pass_no_lean": (True, 0)}
Request = tuple[str, bytes, bytes, str]   # method, query string, body, path


def _post(query: str, players: int, distinct: bool) -> Callable[[], Request]:
    def make() -> Request:
        variables = {"b": "read", **({"p": f"p{random.randrange(players)}"} if "$p" in query or distinct else {})}
        return "POST", b"", orjson.dumps({"query": query, "variables": variables}), "/graphql"
    return make


def _get(query: str, players: int) -> Callable[[], Request]:
    def make() -> Request:
        variables = orjson.dumps({"b": "read", "p": f"p{random.randrange(players)}"}).decode()
        return "GET", urlencode({"query": query, "variables": variables}).encode(), b"", "/graphql"
    return make


def _rest(path: str, query_string: bytes, players: int) -> Callable[[], Request]:
    """A GET of the REST peer (`%s` in PATH is a random player), as `podium bench read` sends it."""
    def make() -> Request:
        return "GET", query_string, b"", path.replace("%s", f"p{random.randrange(players)}")
    return make


def reads(players: int) -> dict[str, Callable[[], Request]]:
    """Each read's request maker: every top-100 body differs (an unused random `$p`), so each is
    executed (no whole-response cache hit) unless named `_same`. `rest_*` are the REST peer's
    routes and `healthz` the server's floor, through the same stack (their chain does not matter)."""
    return {"top100": _post(TOP100, players, True), "top100_same": _post(TOP100, players, False),
            "rank": _post(RANK_SCORE, players, False), "around": _post(AROUND, players, False),
            "top100_get": _get(TOP100, players),
            "rest_top100": _rest("/v1/boards/read/top", b"first=100", players),
            "rest_rank": _rest("/v1/boards/read/players/%s", b"", players),
            "rest_around": _rest("/v1/boards/read/around/%s", b"above=12&below=12", players),
            "healthz": _rest("/healthz", b"", players)}


async def call(app: Starlette, request: Request) -> tuple[int, bytes]:
    method, query_string, body, path = request
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query_string, "headers": headers, "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8080), "extensions": {}}
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def settings_for(redis_url: str, data_dir: Path, one_pass: bool, lean_pending_max: int = 1024) -> Settings:
    return Settings(redis_url=redis_url, region="bench", data_dir=data_dir, redis_lean_pending_max=lean_pending_max,
                    game_server_keys={GAME_KEY_ID: GAME_SECRET}, admin_keys=[ADMIN_KEY],
                    boards=[{"id": b} for b in BOARDS],  # type: ignore[misc]
                    api={"rate_limit_per_s": 1e9, "rate_limit_burst": 10**9,  # type: ignore[arg-type]
                         "graphql_one_pass": one_pass})


async def measure(redis_url: str, data_dir: Path, chains: list[str], read_names: list[str], players: int,
                  requests: int, blocks: int) -> dict[str, Any]:
    makers = reads(players)
    cpu_us: dict[str, dict[str, list[float]]] = {r: {c: [] for c in chains} for r in read_names}
    async with AsyncExitStack() as stack:
        apps = {c: await stack.enter_async_context(running(settings_for(redis_url, data_dir / c, *CHAINS[c])))
                for c in chains}
        for name in read_names:
            for app in apps.values():   # warm: prepares the document, fills the tops
                for _ in range(20):
                    status, body = await call(app, makers[name]())
                    assert status == 200 and b'"errors"' not in body, body[:300]
        # blocks alternate between the reads and the chains, so every figure sees the same moments
        per_block = max(1, requests // blocks)
        for _ in range(blocks):
            for name in read_names:
                for chain, app in apps.items():
                    batch = [makers[name]() for _ in range(per_block)]
                    started = time.process_time()
                    for request in batch:
                        await call(app, request)
                    cpu_us[name][chain].append(1e6 * (time.process_time() - started) / per_block)
    out: dict[str, Any] = {}
    for name, by_chain in cpu_us.items():
        out[name] = {c: round(statistics.median(v), 1) for c, v in by_chain.items()}
        if set(chains) == {"general", "one_pass"}:
            out[name]["general_over_one_pass"] = round(out[name]["general"] / out[name]["one_pass"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="per read and chain")
    parser.add_argument("--blocks", type=int, default=10, help="alternations between the chains")
    parser.add_argument("--reads", nargs="*", default=["top100", "top100_same", "rank", "around", "top100_get"],
                        choices=list(reads(1)))
    parser.add_argument("--only", choices=list(CHAINS), default=None)
    parser.add_argument("--chains", nargs="*", choices=list(CHAINS), default=["general", "one_pass"])
    args = parser.parse_args()
    chains = [args.only] if args.only else args.chains
    with tempfile.TemporaryDirectory(prefix="podium-read-chain-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", appendonly=False)
        redis.start()
        try:
            asyncio.run(_load_boards(redis.url, args.players))
            result = asyncio.run(measure(redis.url, Path(tmp), chains, args.reads, args.players, args.requests,
                                         args.blocks))
        finally:
            redis.stop()
    print(json.dumps({"unit": "server CPU µs per request (median of blocks)", **result}, indent=1))


if __name__ == "__main__":
    main()

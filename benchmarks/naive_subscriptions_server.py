"""Baseline for the subscription benchmark: the obvious Strawberry implementation, an async
generator per subscriber that polls Redis every tick and yields the whole top when it changed.
Same Redis, same board, same tick, same websocket protocol as Podium.

    python benchmarks/naive_subscriptions_server.py --port P --redis-url URL
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncGenerator

import strawberry
from podium.region.rank_store_redis import RedisRankStore
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL

from podium.model import Board
from podium.redis_client import connect
from podium.serve import serve

TICK_S = 0.25


@strawberry.type
class Entry:
    rank: int
    player: str
    score: float
    achieved_at: float   # Unix ms (a float: GraphQL's Int is 32-bit): the load generator's lag stamp


@strawberry.type
class Query:
    ok: bool = True


def build_app(redis_url: str) -> Starlette:
    store = RedisRankStore(connect(redis_url, connections_max=512))

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def top_changed(self, board: str, n: int = 10) -> AsyncGenerator[list[Entry], None]:
            b, last = Board(board), None
            while True:
                rows = await store.range(b, 0, n)
                if rows != last:
                    last = rows
                    yield [Entry(rank=r.rank, player=r.player, score=r.score, achieved_at=r.achieved_at_ms) for r in rows]
                await asyncio.sleep(TICK_S)

    app = GraphQL(strawberry.Schema(query=Query, subscription=Subscription), max_subscriptions_per_connection=None)
    return Starlette(routes=[Route("/graphql", app), WebSocketRoute("/graphql", app)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(build_app(args.redis_url), "127.0.0.1", args.port, asyncio.Event()))


if __name__ == "__main__":
    main()

"""`podium loadgen`: bounded load against a region (loopback, or a URL the user names explicitly)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

REQUESTS_MAX_LIMIT = 10_000_000
SECONDS_MAX_LIMIT = 3600.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("loadgen", help="bounded load generator: signed score batches or GraphQL reads")
    p.add_argument("kind", choices=["ingest", "top100", "page500_600", "rank", "around"])
    p.add_argument("--url", default=None, help="region base URL (default http://127.0.0.1:8080; non-loopback only when given here)")
    p.add_argument("--board", default="ingest")
    p.add_argument("--players", type=int, default=1_000_000, help="player ids p0..pN-1")
    p.add_argument("--key-id", default="bench")
    p.add_argument("--secret", default="bench-secret")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--requests", type=int, default=1000, help=f"stop after this many requests (≤ {REQUESTS_MAX_LIMIT:,})")
    p.add_argument("--seconds", type=float, default=10.0, help=f"stop after this long (≤ {SECONDS_MAX_LIMIT:.0f})")
    p.add_argument("--rate", type=float, default=None, help="pace to this many requests/s")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from podium.devtools.bench import loadgen

    url = (args.url or "http://127.0.0.1:8080").rstrip("/")
    loadgen.check_target(url, explicit=args.url is not None)
    if not 0 < args.requests <= REQUESTS_MAX_LIMIT or not 0 < args.seconds <= SECONDS_MAX_LIMIT:
        raise SystemExit(f"--requests must be 1-{REQUESTS_MAX_LIMIT} and --seconds 0-{SECONDS_MAX_LIMIT}")
    result = asyncio.run(_run(args, url))
    print(json.dumps(result, indent=2))
    return 0


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import random

    import httpx
    import orjson

    from podium.devtools.bench import loadgen
    from podium.devtools.bench.scenarios import BATCH_ENTRIES, QUERIES
    from podium.signing import signed_headers

    if args.kind == "ingest":
        async def req(client: httpx.AsyncClient, n: int) -> bool:
            now = time.time_ns() // 10**6
            body = orjson.dumps({"entries": [
                {"board": args.board, "player": f"p{random.randrange(args.players)}", "score": random.randrange(10**9),
                 "achieved_at": now, "event_id": f"lg{now}-{n}-{i}"} for i in range(BATCH_ENTRIES)]})
            headers = signed_headers(args.key_id, args.secret, "POST", "/v1/scores", now, body)
            r = await client.post(f"{url}/v1/scores", content=body, headers=headers)
            return r.status_code == 200
        per_request = BATCH_ENTRIES
    else:
        query, variables = QUERIES[args.kind]

        async def req(client: httpx.AsyncClient, n: int) -> bool:
            player = f"p{random.randrange(args.players)}"
            r = await client.post(f"{url}/graphql", json={"query": query, "variables": {"b": args.board, **variables(n, player)}})
            return r.status_code == 200 and not r.json().get("errors")
        per_request = 1
    res = await loadgen.run(req, concurrency=args.concurrency, requests_max=args.requests,
                            seconds_max=args.seconds, rate_per_s=args.rate)
    return {"kind": args.kind, "url": url, **res.summary(per_request)}

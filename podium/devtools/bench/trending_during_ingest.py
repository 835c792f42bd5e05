"""A part of `podium bench trending`: APPROXIMATE 30-day reads while event batches keep arriving,
so the buckets a read covers keep changing (the read's cost in a live region, not a quiet one)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from podium.devtools.bench.stack import GAME_KEY_ID, GAME_SECRET
from podium.devtools.bench.trending import QUERY, STREAM, _pct
from podium.signing import signed_headers


async def reads_during_ingest(url: str, batches: list[list[dict[str, Any]]], interval_s: float,
                               reads: int) -> dict[str, Any]:
    """APPROXIMATE `last: 30d` reads back to back while 500-event batches arrive at the ack phase's
    pace (bodies signed before the clock starts): the read's cost when the buckets keep changing,
    late events into closed minutes included (the batches spread over the last 50 minutes)."""
    bodies = [orjson.dumps({"events": events}) for events in batches]
    body = orjson.dumps({"query": QUERY, "variables": {"s": STREAM, "l": "30d", "p": "APPROXIMATE"}})
    samples: list[float] = []
    refused = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        done = asyncio.Event()

        async def writer() -> None:
            nonlocal refused
            for raw in bodies:
                started = time.perf_counter()
                for _attempt in range(10):      # a retryable 503 is resent (signed afresh) after its Retry-After
                    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/events",
                                             time.time_ns() // 1_000_000, raw)
                    r = await client.post("/v1/events", content=raw, headers=headers)
                    if r.status_code != 503:
                        break
                    refused += 1
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                r.raise_for_status()
                await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - started)))
            done.set()

        async def reader() -> None:
            while len(samples) < reads and (not done.is_set() or not samples):
                t = time.perf_counter()
                r = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
                samples.append((time.perf_counter() - t) * 1000)
                if "errors" in orjson.loads(r.content):
                    raise RuntimeError(r.text[:300])

        await asyncio.gather(writer(), reader())
    return {"requests": len(samples), "batches": len(batches), "batches_refused_503": refused,
            "p50_ms": _pct(samples, 0.5), "p99_ms": _pct(samples, 0.99)}

"""A bounded async load generator: stops after `requests_max` requests or `seconds_max`, whichever first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_target(url: str, explicit: bool) -> None:
    """Only loopback, unless the user named the URL explicitly."""
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK and not explicit:
        raise ValueError(f"refusing to load {url}: not loopback and not passed explicitly")


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self, items_per_request: int = 1) -> dict[str, float | int]:
        lat = sorted(self.latencies_ms) or [0.0]

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3)

        return {
            "requests": self.requests, "errors": self.errors, "seconds": round(self.seconds, 3),
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "items_per_s": round(self.requests * items_per_request / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
        }


async def run(
    make_request: Callable[[httpx.AsyncClient, int], Awaitable[bool]],
    *, concurrency: int, requests_max: int, seconds_max: float, rate_per_s: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """`concurrency` workers issue requests until a bound is reached; optionally paced to `rate_per_s`."""
    result = LoadResult()
    issued = 0
    start = time.perf_counter()
    deadline = start + seconds_max
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < requests_max and time.perf_counter() < deadline:
                n = issued
                issued += 1
                if rate_per_s:
                    delay = start + n / rate_per_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                t0 = time.perf_counter()
                try:
                    ok = await make_request(client, n)
                except httpx.HTTPError:
                    ok = False
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.requests += 1
                result.errors += 0 if ok else 1
                if on_progress:
                    on_progress(1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result

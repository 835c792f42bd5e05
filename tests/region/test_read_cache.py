"""The read cache: singleflight under concurrency, jittered expiry with an injected clock, bounds."""

from __future__ import annotations

import asyncio
import random

import pytest
from podium.region.read_cache import ReadCache

from podium.clock import FakeClock


@pytest.mark.anyio
async def test_concurrent_requests_share_one_load() -> None:
    loads = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return 42

    lookups: list[str] = []
    cache = ReadCache(250, 10, FakeClock(), on_lookup=lookups.append)
    waiters = [asyncio.create_task(cache.get("top:arena", load)) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [42] * 100
    assert loads == 1
    assert lookups.count("miss") == 1 and lookups.count("shared") == 99
    assert await cache.get("top:arena", load) == 42 and lookups[-1] == "hit" and loads == 1


@pytest.mark.anyio
async def test_entries_expire_after_a_jittered_ttl() -> None:
    clock = FakeClock()
    cache = ReadCache(1000, 10, clock, rng=random.Random(1))
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await cache.get("k", load) == 1
    clock.advance(790)                       # within 1000 ms - 20% jitter: still fresh
    assert await cache.get("k", load) == 1
    clock.advance(500)                       # past 1000 ms + 20%: reloaded
    assert await cache.get("k", load) == 2


@pytest.mark.anyio
async def test_bounded_and_errors_are_not_cached() -> None:
    cache = ReadCache(1000, 2, FakeClock())

    async def value(v: int) -> int:
        return v

    for i in range(5):
        await cache.get(i, lambda i=i: value(i))
    assert len(cache) == 2

    async def boom() -> int:
        raise RuntimeError("redis down")

    with pytest.raises(RuntimeError):
        await cache.get("e", boom)
    assert await cache.get("e", lambda: value(7)) == 7


@pytest.mark.anyio
async def test_disabled_cache_always_loads() -> None:
    cache = ReadCache(0, 10, FakeClock())
    calls = []

    async def load() -> int:
        calls.append(1)
        return 1

    await cache.get("k", load)
    await cache.get("k", load)
    assert len(calls) == 2

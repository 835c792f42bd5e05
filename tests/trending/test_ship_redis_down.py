"""The trending outbox (region → global tier) translates an unreachable Redis into a coded,
retryable 503 in every public method (the shipper then backs off and retries)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.streams import StreamSpec

from podium.errors import Unavailable
from podium.redis_client import connect

CALLS: dict[str, Callable[[TrendingOutbox], Awaitable[Any]]] = {
    "backfill": lambda o: o.backfill("d"),
    "claim": lambda o: o.claim("d"),
    "pending": lambda o: o.pending("d", 10),
    "acknowledge": lambda o: o.acknowledge("d", ["pt:{d}:c:m:0:"]),
    "read": lambda o: o.read(StreamSpec("d"), ["pt:{d}:c:m:0:"]),
    "generation": lambda o: o.generation(),
    "set_generation": lambda o: o.set_generation("g"),
}


def test_every_public_method_is_called() -> None:
    public = {n for n, f in inspect.getmembers(TrendingOutbox, inspect.iscoroutinefunction) if not n.startswith("_")}
    assert public == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_unreachable_outbox_is_a_retryable_503(portal, name: str) -> None:  # type: ignore[no-untyped-def]
    async def call() -> None:
        redis = connect("redis://127.0.0.1:1")
        try:
            with pytest.raises(Unavailable) as info:
                await CALLS[name](TrendingOutbox(redis, 10))
            assert info.value.http_status == 503 and info.value.extensions["retryAfter"] == 1
        finally:
            await redis.aclose()

    portal.call(call)

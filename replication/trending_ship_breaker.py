"""The trending ship transport behind its own circuit breaker ("global-trending"): after
`ship_breaker_failures` failed sends in a row (the global tier unreachable, timing out, answering
5xx) it opens, and the shipper's rounds fail at once with `CircuitOpen` (an `Unavailable`: the
shipper backs off as for any failure, the cells wait in the region's outbox) instead of each
waiting out a time-out; after `ship_breaker_open_ms` one send goes through as a probe (half-open):
its success closes the breaker, its failure opens it again. The state shows in the region's
/readyz (`breakers`) and metrics (`podium_circuit_state{dependency="global-trending"}`).

It reuses the process's breakers (podium/breaker.py, one state machine for every dependency) with
limits that make its window the last N sends, all of which must fail: N consecutive failures.
A body refused as too large is an answer (the shipper splits it), not a failure."""

from __future__ import annotations

from typing import Any

from podium.replication.transport import ShipTimedOut
from podium.replication.trending_transport import HttpTrendingTransport

from podium.breaker import Breakers
from podium.config import BreakerSettings

NAME = "global-trending"


class BreakerTrendingTransport:
    def __init__(self, inner: HttpTrendingTransport, breakers: Breakers, failures: int, open_ms: int,
                 timeout_ms: int, name: str = NAME) -> None:
        self.inner = inner
        self.breakers = breakers
        self.name = name
        self.timeout_ms = timeout_ms
        self.breaker = breakers.get(name, BreakerSettings(
            failure_ratio=1.0, calls_min=failures, window_calls_max=failures,
            window_ms=2**62, open_ms=open_ms, half_open_probes_max=1, call_timeout_ms=timeout_ms))

    async def send_trending(self, region: str, body: bytes) -> dict[str, Any]:
        return await self.breakers.call(self.name, lambda: self.inner.send_trending(region, body),
                                        timeout_ms=self.timeout_ms, on_timeout=lambda: ShipTimedOut(
                                            f"{self.name} did not acknowledge a body within {self.timeout_ms} ms",
                                            retryAfter=1.0))

    async def aclose(self) -> None:
        await self.inner.aclose()

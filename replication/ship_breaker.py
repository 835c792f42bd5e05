"""A ship transport behind a circuit breaker: the global tier (HTTP) or the replication topic
(Kafka producer) as a region sees it. While the breaker is open the shipper's sends fail at once
with `CircuitOpen` (an `Unavailable`: the shipper backs off and retries, nothing is lost — the
changes wait in the region's outbox); the state shows in the region's /readyz and metrics. A body
too large is an answer (BadUserInput: the shipper splits it), not a failure of the receiver."""

from __future__ import annotations

from collections.abc import Sequence

from podium.replication.changes import Change
from podium.replication.transport import FeedReports, ShipTimedOut, ShipTransport

from podium.breaker import Breakers
from podium.model import Board


class BreakerShipTransport:
    def __init__(self, inner: ShipTransport, breakers: Breakers, name: str, timeout_ms: int) -> None:
        self.inner = inner
        self.breakers = breakers
        self.name = name
        self.timeout_ms = timeout_ms

    async def send(self, region: str, board: Board, changes: Sequence[Change], feeds: FeedReports) -> None:
        await self.breakers.call(self.name, lambda: self.inner.send(region, board, changes, feeds),
                                 timeout_ms=self.timeout_ms, on_timeout=lambda: ShipTimedOut(
                                     f"{self.name} did not acknowledge a batch within {self.timeout_ms} ms",
                                     retryAfter=1.0))

    async def heartbeat(self, region: str, feeds: FeedReports) -> None:
        await self.breakers.call(self.name, lambda: self.inner.heartbeat(region, feeds),
                                 timeout_ms=self.timeout_ms)

    async def aclose(self) -> None:
        await self.inner.aclose()


_: type[ShipTransport] = BreakerShipTransport

"""The trending ship transport (region → global tier): the replication HTTP adapter (signed bodies,
the same time-out and error translation) posting to the trending intake."""

from __future__ import annotations

from podium.replication.transport import HttpShipTransport
from podium.replication.trending_wire import TRENDING_PATH


class HttpTrendingTransport(HttpShipTransport):
    async def send_trending(self, region: str, body: bytes) -> None:
        """Returns once the global tier stored the body; `PayloadTooLarge` when it refuses its size,
        `Unavailable` (or `ShipTimedOut`) for anything worth retrying."""
        await self._post(TRENDING_PATH, region, body)

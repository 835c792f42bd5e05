"""The trending ship transport (region → global tier): the replication HTTP adapter (signed bodies,
the same time-out and error translation) posting to the trending intake."""

from __future__ import annotations

from typing import Any

import orjson
from podium.replication.transport import HttpShipTransport
from podium.replication.trending_wire import TRENDING_PATH

from podium.errors import Unavailable


class HttpTrendingTransport(HttpShipTransport):
    async def send_trending(self, region: str, body: bytes) -> dict[str, Any]:
        """Returns the global tier's reply once it stored the body (`refused` streams, the store's
        `generation`); `PayloadTooLarge` when it refuses its size, `Unavailable` (or `ShipTimedOut`)
        for anything worth retrying."""
        response = await self._post(TRENDING_PATH, region, body)
        try:
            reply = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise Unavailable("the global tier's trending reply is not JSON") from exc
        if not isinstance(reply, dict):
            raise Unavailable("the global tier's trending reply is not an object")
        return reply

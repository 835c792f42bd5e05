"""The ShipTransport port (region → global tier) and its HTTP adapter (signed, over httpx).
The Kafka adapter is `ship_kafka.KafkaShipTransport` (replication.transport = "kafka")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx
import orjson
from podium.replication.changes import Change

from podium.clock import Clock
from podium.errors import PayloadTooLarge, Unavailable
from podium.model import Board
from podium.signing import signed_headers
from podium.trace_context import current_carrier

REPLICATE_PATH = "/v1/replicate"

# Where a region's change streams stand, per board: [head, acked, next_unacked] stream ids as
# sequence numbers (see podium.global_.staleness). Sent with every message.
FeedReports = Mapping[str, Sequence[int]]


class ShipTimedOut(Unavailable):
    """The receiver did not acknowledge a batch in time: it may still merge it, but it is busy, so
    the shipper sends that board smaller bodies (and the same changes again: merging is idempotent)."""


class ShipTransport(Protocol):
    async def send(self, region: str, board: Board, changes: Sequence[Change], feeds: FeedReports) -> None:
        """Deliver one board's batch; returns only once the global tier acknowledged it. Raises
        `PayloadTooLarge` when the receiver refuses its size (the caller splits it), `Unavailable`
        for anything worth retrying as is."""
        ...

    async def heartbeat(self, region: str, feeds: FeedReports) -> None: ...

    async def aclose(self) -> None: ...


def encode_batch(region: str, board: Board, changes: Sequence[Change], feeds: FeedReports) -> bytes:
    return orjson.dumps({"region": region, "board": board.to_dict(), "changes": [c.to_wire() for c in changes],
                         "feeds": {b: list(r) for b, r in feeds.items()}})


def encode_heartbeat(region: str, feeds: FeedReports) -> bytes:
    return orjson.dumps({"region": region, "board": None, "changes": [],
                         "feeds": {b: list(r) for b, r in feeds.items()}})


class HttpShipTransport:
    def __init__(self, global_url: str, secret: str, clock: Clock, timeout_ms: int = 5000,
                 http: httpx.AsyncClient | None = None) -> None:
        self.secret = secret
        self.clock = clock
        self.http = http or httpx.AsyncClient(base_url=global_url, timeout=timeout_ms / 1000)

    async def send(self, region: str, board: Board, changes: Sequence[Change], feeds: FeedReports) -> None:
        await self._post(REPLICATE_PATH, region, encode_batch(region, board, changes, feeds))

    async def heartbeat(self, region: str, feeds: FeedReports) -> None:
        await self._post(REPLICATE_PATH, region, encode_heartbeat(region, feeds))

    async def _post(self, path: str, region: str, body: bytes) -> httpx.Response:
        # a batch of traced writes carries its `replication.ship` span's W3C context (ship_trace.py)
        headers = {**signed_headers(region, self.secret, "POST", path, self.clock.now_ms(), body), **current_carrier()}
        try:
            response = await self.http.post(path, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ShipTimedOut(f"the global tier did not answer in time ({exc.__class__.__name__})") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"global tier unreachable: {exc.__class__.__name__}") from exc
        if response.status_code == 413:
            raise PayloadTooLarge(f"the global tier refused a {len(body)}-byte body as too large")
        if response.status_code != 200:
            raise Unavailable(f"global tier answered {response.status_code}: {response.text[:200]}")
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


_: type[ShipTransport] = HttpShipTransport

"""The ShipTransport port (region → global tier) and its HTTP adapter (signed, over httpx).
The Kafka adapter is `ship_kafka.KafkaShipTransport` (replication.transport = "kafka")."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Protocol

import httpx
import orjson
from podium.replication.changes import Change

from podium.clock import Clock
from podium.errors import Unavailable
from podium.model import Board
from podium.signing import signed_headers

REPLICATE_PATH = "/v1/replicate"
SKETCH_PATH = "/v1/replicate/sketch"


class ShipTransport(Protocol):
    async def send(self, region: str, board: Board, changes: Sequence[Change]) -> None:
        """Deliver one board's batch; returns only once the global tier acknowledged it (raises otherwise)."""
        ...

    async def send_sketch(self, region: str, board: Board, coarse: bool, as_of_ms: int, sketch: bytes) -> None: ...

    async def heartbeat(self, region: str) -> None: ...

    async def aclose(self) -> None: ...


def encode_batch(region: str, board: Board, changes: Sequence[Change]) -> bytes:
    return orjson.dumps({"region": region, "board": board.to_dict(), "changes": [c.to_wire() for c in changes]})


class HttpShipTransport:
    def __init__(self, global_url: str, secret: str, clock: Clock, timeout_ms: int = 5000,
                 http: httpx.AsyncClient | None = None) -> None:
        self.secret = secret
        self.clock = clock
        self.http = http or httpx.AsyncClient(base_url=global_url, timeout=timeout_ms / 1000)

    async def send(self, region: str, board: Board, changes: Sequence[Change]) -> None:
        await self._post(REPLICATE_PATH, region, encode_batch(region, board, changes))

    async def send_sketch(self, region: str, board: Board, coarse: bool, as_of_ms: int, sketch: bytes) -> None:
        body = orjson.dumps({"region": region, "board": board.id, "coarse": coarse, "as_of_ms": as_of_ms,
                             "sketch": base64.b64encode(sketch).decode()})
        await self._post(SKETCH_PATH, region, body)

    async def heartbeat(self, region: str) -> None:
        await self._post(REPLICATE_PATH, region, orjson.dumps({"region": region, "board": None, "changes": []}))

    async def _post(self, path: str, region: str, body: bytes) -> None:
        headers = signed_headers(region, self.secret, "POST", path, self.clock.now_ms(), body)
        try:
            response = await self.http.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"global tier unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise Unavailable(f"global tier answered {response.status_code}: {response.text[:200]}")

    async def aclose(self) -> None:
        await self.http.aclose()


_: type[ShipTransport] = HttpShipTransport

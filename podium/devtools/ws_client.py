"""A minimal GraphQL-over-websocket subscriber speaking graphql-transport-ws or the legacy graphql-ws
protocol: used by tests, the load generator and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import websockets

PROTOCOLS = ("graphql-transport-ws", "graphql-ws")


class Subscriber:
    def __init__(self, url: str, protocol: str = "graphql-transport-ws", payload: dict[str, Any] | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        self.url = url
        self.protocol = protocol
        self.init_payload = payload or {}
        self.ws: Any = None

    async def connect(self) -> Subscriber:
        self.ws = await websockets.connect(self.url, subprotocols=[self.protocol], max_size=2**22,  # type: ignore[list-item]
                                           open_timeout=30, ping_interval=None)
        await self.ws.send(orjson.dumps({"type": "connection_init", "payload": self.init_payload}).decode())
        while True:
            msg = orjson.loads(await self.ws.recv())
            if msg["type"] == "connection_ack":
                return self
            if msg["type"] not in ("ka", "ping"):
                raise RuntimeError(f"connection refused: {msg}")

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None, op_id: str = "1") -> None:
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.ws.send(orjson.dumps({"id": op_id, "type": kind,
                                         "payload": {"query": query, "variables": variables or {}}}).decode())

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yields each `next`/`data` payload ({data, errors}); stops on complete; raises on error."""
        while True:
            msg = orjson.loads(await self.ws.recv())
            kind = msg["type"]
            if kind in ("next", "data"):
                yield msg["payload"]
            elif kind in ("error",):
                yield {"errors": msg["payload"] if isinstance(msg["payload"], list) else [msg["payload"]]}
            elif kind == "complete":
                return
            elif kind == "ping":
                await self.ws.send(orjson.dumps({"type": "pong"}).decode())

    async def next(self, op_id: str | None = None) -> dict[str, Any]:
        """The next payload (of operation `op_id` when given), skipping completions and keep-alives."""
        while True:
            msg = orjson.loads(await self.ws.recv())
            if op_id is not None and msg.get("id") not in (None, op_id):
                continue
            if msg["type"] in ("next", "data"):
                return msg["payload"]  # type: ignore[no-any-return]
            if msg["type"] == "error":
                return {"errors": msg["payload"] if isinstance(msg["payload"], list) else [msg["payload"]]}
            if msg["type"] == "ping":
                await self.ws.send(orjson.dumps({"type": "pong"}).decode())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

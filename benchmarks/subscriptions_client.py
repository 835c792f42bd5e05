"""A light graphql-transport-ws subscriber for the subscription benchmark: one asyncio Protocol per
socket on uvloop, frames parsed by hand (no per-message JSON decoding, no websockets library).

Why not `podium.devtools.ws_client`: at 10,000 subscribers its per-message cost (the websockets
library's frame machinery, a task per subscriber, JSON decoding) made the client processes, not the
server, the bottleneck of both the connect storm and the push lag. Here a received frame costs one
`data_received` call, a header parse and a timestamp.

Only what the benchmark needs: text frames from the server (unmasked), masked frames to it, pings
answered, and each `next` message's receive time recorded in order (message k+1 after the initial
state is round k). A `next` that carries errors is counted apart, not as a delivery."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from typing import Any

import orjson

HANDSHAKE_END = b"\r\n\r\n"
CRLF = b"\r\n"


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked, final frame (RFC 6455 §5.3: every client frame is masked)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65_536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + struct.pack("!Q", n)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big") if n else b""
    return head + mask + masked


class LightSubscriber(asyncio.Protocol):
    def __init__(self, host: str, path: str, query: str, variables: dict[str, Any]) -> None:
        self.host, self.path = host, path
        self.subscribe_msg = orjson.dumps({"id": "1", "type": "subscribe",
                                           "payload": {"query": query, "variables": variables}})
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()   # initial state received
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.times: list[float] = []     # receive time of each `next` after the initial state
        self.errors = 0                  # `next` messages carrying errors: not deliveries (a failing baseline)
        self.initial = False
        self.want = 0                    # `next` messages after the initial one to wait for
        self.got_all: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the initial state: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(HANDSHAKE_END)
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[:end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {head.partition(CRLF)[0]!r}")
                return
            self.upgraded = True
            self._send(b'{"type":"connection_init","payload":{}}')
        buf = self.buf
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < at + n:
                return
            payload = bytes(buf[at:at + n])
            del buf[:at + n]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1:
            if b'"type":"next"' in payload:
                if not self.initial:
                    self.initial = True
                    if not self.ready.done():
                        self.ready.set_result(None)
                    return
                if b'"errors"' in payload:
                    self.errors += 1
                    return
                self.times.append(time.time())
                if len(self.times) >= self.want and not self.got_all.done():
                    self.got_all.set_result(None)
            elif b'"connection_ack"' in payload:
                self._send(self.subscribe_msg)
            elif b'"ping"' in payload:
                self._send(b'{"type":"pong"}')
            elif not self.ready.done():
                self._fail(f"unexpected message: {payload[:200]!r}")
        elif opcode == 0x9:
            self._send(payload, 0xA)
        elif opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._fail(f"closed by the server: {code} {payload[2:200]!r}")

    def _send(self, payload: bytes, opcode: int = 0x1) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(payload, opcode))

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(struct.pack("!H", 1000), 0x8)
            self.transport.close()


async def connect(host: str, port: int, path: str, query: str, variables: dict[str, Any],
                  timeout_s: float) -> LightSubscriber:
    """Connected, subscribed, and its initial state received."""
    loop = asyncio.get_running_loop()
    _t, proto = await asyncio.wait_for(
        loop.create_connection(lambda: LightSubscriber(f"{host}:{port}", path, query, variables), host, port),
        timeout_s)
    try:
        await asyncio.wait_for(asyncio.shield(proto.ready), timeout_s)
    except BaseException:
        proto.close()
        raise
    return proto

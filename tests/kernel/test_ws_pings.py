"""Keep-alive pings from one task per app (podium.gql.ws_raw.SharedPinger), over a real Hypercorn
server: every connected websocket gets a ping frame within each interval, Hypercorn starts no ping
task of its own for it, and a socket that negotiated nothing stays pinged until it closes."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import pytest
from hypercorn.asyncio import serve as hypercorn_serve

from podium.gql.ws_raw import RawStreamMiddleware
from podium.redis_server import free_port
from podium.serve import hypercorn_config

PING_INTERVAL_S = 0.2
DEADLINE_S = 30.0


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.disconnect":
            return


async def _frames(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return head[0], await reader.readexactly(n)


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


@pytest.mark.anyio
async def test_one_task_pings_every_socket_within_each_interval() -> None:
    app = RawStreamMiddleware(echo)
    port = free_port()
    config = hypercorn_config("127.0.0.1", port)
    config.websocket_ping_interval = PING_INTERVAL_S
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        for _ in range(int(DEADLINE_S * 20)):
            try:
                sockets = [await _connect(port) for _ in range(3)]
                break
            except OSError:
                await asyncio.sleep(0.05)
        pinger = app.pinger
        assert pinger is not None
        assert len(pinger.streams) == 3
        # Hypercorn's own ping task is off for adopted sockets: their config has no interval
        assert all(stream.config.websocket_ping_interval is None for stream in pinger.streams)
        for reader, _writer in sockets:          # each socket: two pings, from the shared task
            for _ in range(2):
                opcode, payload = await asyncio.wait_for(_frames(reader), DEADLINE_S)
                assert (opcode, payload) == (0x89, b"")
        assert pinger.sent >= 6
        _reader, writer = sockets.pop()
        writer.close()
        for _ in range(int(DEADLINE_S * 20)):    # a closed socket is dropped from the pinger
            if len(pinger.streams) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(pinger.streams) == 2
        for reader, _writer in sockets:          # the others are still pinged
            opcode, _payload = await asyncio.wait_for(_frames(reader), DEADLINE_S)
            assert opcode == 0x89
        for _reader, writer in sockets:
            writer.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, DEADLINE_S)

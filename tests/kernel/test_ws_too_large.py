"""A too-large websocket message over a real Hypercorn server (podium.gql.ws_raw): the server
answers close 1009 and, when the client's close reply arrives in the same read as the message,
still sees that reply and ends the connection (Hypercorn alone dropped the rest of that read, so
the connection hung until the client gave up)."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest
from hypercorn.asyncio import serve as hypercorn_serve

from podium.gql.ws_raw import RawStreamMiddleware
from podium.redis_server import free_port
from podium.serve import hypercorn_config
from tests.kernel.test_ws_pings import DEADLINE_S, _connect, _frames, echo

LIMIT = 16_384


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x80 | opcode,)) + (bytes((0x80 | n,)) if n < 126 else
                                      b"\xfe" + struct.pack("!H", n) if n < 65_536 else b"\xff" + struct.pack("!Q", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.anyio
@pytest.mark.parametrize("shared_pings", [True, False])
async def test_the_close_reply_in_the_same_read_as_a_too_large_message_ends_the_connection(shared_pings: bool) -> None:
    app = RawStreamMiddleware(echo, shared_pings=shared_pings)
    port = free_port()
    config = hypercorn_config("127.0.0.1", port, LIMIT)
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        for _ in range(int(DEADLINE_S * 20)):
            try:
                reader, writer = await _connect(port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        # the message, then at once the client's close (as a client answering the 1009 would):
        # one write of less than one read
        writer.write(_client_frame(0x1, b"x" * (LIMIT + 4_000)) + _client_frame(0x8, struct.pack("!H", 1000)))
        closes = []
        while True:
            opcode, payload = await asyncio.wait_for(_frames(reader), DEADLINE_S)
            if opcode == 0x88:
                closes.append(struct.unpack("!H", payload[:2])[0])
                break
        assert closes == [1009]
        assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""    # the server ended the connection
        writer.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, DEADLINE_S)

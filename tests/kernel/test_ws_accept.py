"""The lean websocket accept over a real Hypercorn server: the `101` written as prepared bytes
(podium.gql.ws_raw `_accept`) is byte for byte Hypercorn's own (but for the date's value), and an
app's extra headers still go through Hypercorn's validated path; Hypercorn's idle task as a timer
(podium.serve_idle): a connection that never sends a request is closed, an upgraded one is not,
a keep-alive connection is closed once idle, and the idle ones are closed when the server stops."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio.tcp_server import TCPServer

from podium import serve_idle
from podium.gql.ws_raw import RawStreamMiddleware
from podium.redis_server import free_port
from podium.serve import hypercorn_config

DEADLINE_S = 30.0
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key


def app_accepting(subprotocol: str | None = None, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if scope["type"] != "websocket":
            return
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                accept: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
                if headers:
                    accept["headers"] = headers
                await send(accept)
            elif message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message["text"]})
            elif message["type"] == "websocket.disconnect":
                return

    return app


async def _serving(app: Any, **config: Any) -> tuple[asyncio.Task[None], asyncio.Event, int]:
    port = free_port()
    hc = hypercorn_config("127.0.0.1", port)
    for name, value in config.items():
        setattr(hc, name, value)
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, hc, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(int(DEADLINE_S * 20)):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return server, stop, port
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")


async def _stopped(server: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(server, DEADLINE_S)


async def _upgrade(
    port: int, protocols: str | None = None
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    offer = f"Sec-WebSocket-Protocol: {protocols}\r\n" if protocols else ""
    writer.write(
        f"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
    return head, reader, writer


async def _echoed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    writer.write(bytes((0x81, 0x80 | len(text))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
    while True:  # past Hypercorn's pings (its own ping task pings at accept)
        head = await asyncio.wait_for(reader.readexactly(2), DEADLINE_S)
        payload = await reader.readexactly(head[1] & 0x7F)
        if head[0] != 0x89:
            return payload


def _undated(head: bytes) -> bytes:
    return re.sub(rb"date: [^\r]*\r\n", b"date: -\r\n", head)


@pytest.fixture
def no_lean_idle() -> Iterator[None]:
    serve_idle.uninstall()
    yield
    serve_idle.uninstall()


@pytest.fixture
def lean_idle() -> Iterator[None]:
    assert serve_idle.install()
    yield
    serve_idle.uninstall()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("subprotocol", "offered", "headers"),
    [
        (None, None, None),
        ("graphql-transport-ws", "graphql-transport-ws, graphql-ws", None),
        (None, None, [(b"x-extra", b"1")]),  # an app's header: Hypercorn's validated path
    ],
)
async def test_the_101_is_hypercorns_own(
    no_lean_idle: None,
    subprotocol: str | None,
    offered: str | None,
    headers: list[tuple[bytes, bytes]] | None,
) -> None:
    heads = []
    for lean in (False, True):
        app = RawStreamMiddleware(app_accepting(subprotocol, headers), lean_accept=lean, shared_pings=False)
        server, stop, port = await _serving(app)
        try:
            head, reader, writer = await _upgrade(port, offered)
            assert await _echoed(reader, writer, b"hello") == b"hello"  # the socket works after it
            heads.append(_undated(head))
            writer.close()
        finally:
            await _stopped(server, stop)
    assert heads[0].startswith(b"HTTP/1.1 101 \r\n")
    assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in heads[0]
    assert heads[1] == heads[0]


@pytest.mark.anyio
async def test_a_connection_that_sends_nothing_is_closed_an_upgraded_one_is_not(lean_idle: None) -> None:
    assert hypercorn_run.TCPServer is serve_idle.LeanTCPServer
    app = RawStreamMiddleware(app_accepting(), shared_pings=False)
    server, stop, port = await _serving(app, keep_alive_timeout=0.2)
    try:
        _head, ws_reader, ws_writer = await _upgrade(port)
        silent, silent_writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(silent.read(), DEADLINE_S) == b""  # closed by the idle timer
        silent_writer.close()
        # the upgraded socket outlived several idle timeouts and still answers
        assert await _echoed(ws_reader, ws_writer, b"still") == b"still"
        # a keep-alive HTTP connection is closed once idle after its response
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), DEADLINE_S)
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok")
        writer.close()
        ws_writer.close()
    finally:
        await _stopped(server, stop)


@pytest.mark.anyio
async def test_idle_connections_are_closed_when_the_server_stops(lean_idle: None) -> None:
    app = RawStreamMiddleware(app_accepting(), shared_pings=False)
    # neither the idle timeout nor the graceful wait would end them before the deadline
    server, stop, port = await _serving(app, keep_alive_timeout=600.0, graceful_timeout=600.0)
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.1)  # accepted
    await _stopped(server, stop)
    for reader, writer in silent:
        assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
        writer.close()


def test_install_is_idempotent_and_uninstall_restores_hypercorn() -> None:
    try:
        assert serve_idle.install() and serve_idle.install()
        assert hypercorn_run.TCPServer is serve_idle.LeanTCPServer
    finally:
        serve_idle.uninstall()
    assert hypercorn_run.TCPServer is TCPServer

"""One socket write per response with a known length (podium.region.api.http_coalesce): Hypercorn's
real h11 protocol is driven with the events its HTTP stream sends for an answer; the writes it
hands to the socket side are recorded. A response with `content-length` is one write holding
exactly the bytes Hypercorn's own two writes held; one whose body never comes is written at the
end of the message; a streamed one keeps its head written at once. A live region answers the same
bytes through the patched protocol."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.events import RawData
from hypercorn.protocol.events import Body, EndBody, Response, StreamClosed
from hypercorn.protocol.h11 import H11Protocol
from podium.region.api import http_coalesce

from podium.devtools.testing import LiveServer

REQUEST = b"GET /x HTTP/1.1\r\nhost: test\r\n\r\n"


def _protocol(writes: list[bytes]) -> H11Protocol:
    config = Config()
    config.include_date_header = False   # the only header that changes between two answers

    async def send(event: Any) -> None:
        if isinstance(event, RawData):   # (the other events tell the TCP side the connection is idle)
            writes.append(event.data)

    protocol = H11Protocol(None, config, WorkerContext(None), None, None, False, None, None, send)  # type: ignore[arg-type]
    protocol.connection.receive_data(REQUEST)
    protocol.connection.next_event()   # the request
    protocol.connection.next_event()   # its end
    return protocol


async def _answer(events: list[Any], coalesce: bool) -> list[bytes]:
    writes: list[bytes] = []
    protocol = _protocol(writes)
    send = H11Protocol.stream_send if coalesce else http_coalesce.ORIGINAL_STREAM_SEND
    assert send is not None
    for event in events:
        await send(protocol, event)
    return [w for w in writes if w]


LENGTH = [(b"content-type", b"application/json"), (b"content-length", b"11")]
ANSWERS = {
    "whole": [Response(1, LENGTH, 200), Body(1, b'{"data":{}}'), EndBody(1), StreamClosed(1)],
    "in two chunks": [Response(1, LENGTH, 200), Body(1, b'{"data'), Body(1, b'":{}}'), EndBody(1), StreamClosed(1)],
    "no body": [Response(1, [(b"content-length", b"0")], 200), EndBody(1), StreamClosed(1)],
    "not modified": [Response(1, [(b"etag", b'"x"')], 304), EndBody(1), StreamClosed(1)],
    "streamed": [Response(1, [(b"content-type", b"text/event-stream")], 200), Body(1, b"data: 1\n\n"),
                 Body(1, b"data: 2\n\n"), EndBody(1), StreamClosed(1)],
}


@pytest.mark.parametrize("name", list(ANSWERS))
def test_a_response_with_its_length_is_one_write_of_the_same_bytes(name: str) -> None:
    assert http_coalesce.install()
    events = ANSWERS[name]
    before, after = asyncio.run(_answer(events, False)), asyncio.run(_answer(events, True))
    assert b"".join(after) == b"".join(before)
    if name == "whole":
        assert len(before) == 2 and len(after) == 1
    elif name == "in two chunks":
        assert len(before) == 3 and len(after) == 2 and after[1] == b'":{}}'
    elif name == "streamed":   # the head is not held: a client sees it before the first event
        assert after == before and len(after) == 4   # head, two chunks, the last chunk
    else:
        assert after == before and len(after) == 1


def test_a_live_region_answers_through_the_patched_protocol(live_region: LiveServer) -> None:
    assert http_coalesce.install()
    host, port = live_region.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for _ in range(2):   # keep-alive: the second answer on the same connection too
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b'{"status":"ok"}'), data


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    return int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])

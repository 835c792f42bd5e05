"""wrk's paced schedule (`wrk.paced_delay`): the Lua runs in wrk's LuaJIT, sends requests, and never
offers more than the target rate (the schedule cannot burst). A bound, not a speed: a loaded machine
may send fewer, never more."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from podium.devtools.bench import read_wrk, wrk

pytestmark = pytest.mark.skipif(not wrk.available(), reason="wrk is installed by .ci/setup-bench.sh")

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def tiny_server() -> Iterator[str]:
    """A keep-alive HTTP server that answers every request at once, on its own thread and loop."""
    loop = asyncio.new_event_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = loop.run_until_complete(asyncio.start_server(answer, sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.parametrize("rate", [50.0, 400.0])
def test_a_paced_run_never_offers_more_than_its_rate(tiny_server: str, rate: float) -> None:
    run = wrk.run(f"{tiny_server}/", read_wrk.paced("", rate, 8), seconds=2, connections=8)
    assert run["errors"] == 0 and run["non_2xx"] == 0
    assert run["requests"] > 0
    # request i leaves at most 1 ms early (wrk truncates the wait), so over the run: rate * s + 1
    assert run["requests"] <= rate * run["seconds"] * 1.02 + 2, run


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_a_paced_run_needs_a_positive_rate(bad: float) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        wrk.paced_delay(bad)

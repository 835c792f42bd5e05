"""The benchmark's webhook receiver: an asyncio HTTP/1.1 keep-alive server in its own process, so
the receiving side is neither a thread per connection nor sharing the delivery worker's GIL.

It answers 200 to every POST (500 to paths under `/fail/`, nothing ever to those under `/hang/`:
the connection stays open until the client gives up), records (event id, arrival ms) of the
200s, and hands the recorded arrivals over its pipe when asked.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Self

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
HEAD_BYTES_MAX = 65_536


async def _serve(conn: Connection) -> None:
    arrivals: list[tuple[str, int]] = []
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > HEAD_BYTES_MAX:
                    break
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if " " in lines[0] else "/"
                length, event = 0, ""
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip())
                    elif name == "x-podium-event-id":
                        event = value.strip()
                await reader.readexactly(length)
                if path.startswith("/hang/"):
                    await reader.read()          # until the client closes
                    break
                if path.startswith("/fail/"):
                    writer.write(FAIL)
                else:
                    arrivals.append((event, time.time_ns() // 1_000_000))
                    writer.write(OK)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    conn.send(server.sockets[0].getsockname()[1])
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "take":
            conn.send(arrivals)
            arrivals = []
        else:
            break
    server.close()
    for writer in list(writers):       # open keep-alive connections end their handlers (EOF), not cancelled
        writer.close()
    await asyncio.sleep(0.2)


def _main(conn: Connection) -> None:
    asyncio.run(_serve(conn))


class Receiver:
    """`with Receiver() as r:` — r.url(endpoint), r.failing_url(endpoint), r.take() -> arrivals."""

    def __enter__(self) -> Self:
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("spawn").Process(target=_main, args=(child,), daemon=True)
        self._proc.start()
        self.port: int = self._conn.recv()
        return self

    @property
    def pid(self) -> int:
        """The receiver process (its CPU is read from /proc by the lag bench)."""
        assert self._proc.pid is not None
        return self._proc.pid

    def url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{endpoint}"

    def failing_url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/fail/{endpoint}"

    def hanging_url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/hang/{endpoint}"

    def take(self) -> list[tuple[str, int]]:
        """The arrivals recorded since the last take."""
        self._conn.send("take")
        arrivals: list[tuple[str, int]] = self._conn.recv()
        return arrivals

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()

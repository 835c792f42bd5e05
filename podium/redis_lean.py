"""One pipelined connection for a process's hottest single-command reads (a player's rank, around-me).

redis-py's asyncio client spends ~130-200 us of CPU on each command here (a pool checkout under a
lock and a timeout, the retry wrapper, observability hooks, a timeout around each write and read),
while the read itself costs Redis a few microseconds. `LeanRedis` writes each command, packed by
hiredis, on one connection and resolves the replies in order as they arrive (Redis answers a
connection's commands in order): ~20-30 us per command. A caller cancelled while waiting (a
breaker's call timeout) leaves its reply to be read and dropped, so the connection stays usable.

It is an optimisation only. `lean_of(client)` gives one for a client `connect()` built for a
plain `redis://` node, else None, and the caller then uses the client itself; past `pending_max`
commands in flight `ready()` is false and the caller does the same. Replies and errors are
redis-py's own (bytes, ints, lists; `ResponseError` and its subclasses such as `NoScriptError`,
`ConnectionError`), so the stores' translation (podium/store_errors.py) is unchanged. The
connection belongs to the client's pool: closing the client (`aclose`) or disconnecting its pool
closes it, and the next call reconnects."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis._parsers import BaseParser  # redis-py's own error-reply mapping (NOSCRIPT -> NoScriptError, ...)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError

from podium.redis_guard import GuardedRedis, guarded_call

PENDING_MAX_DEFAULT = 1024  # commands in flight on the lean connection before callers use the pool
CONNECT_TIMEOUT_S = 5.0  # when the client sets no socket_connect_timeout
_MULTI, _EXEC = hiredis.pack_command(("MULTI",)), hiredis.pack_command(("EXEC",))


class _Protocol(asyncio.Protocol):
    def __init__(self, on_lost: Callable[[_Protocol], None]) -> None:
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = None
        self._on_lost = on_lost
        # done already: stands for the replies a transaction drops (MULTI's +OK, each +QUEUED)
        self.skipped: asyncio.Future[Any] = self.loop.create_future()
        self.skipped.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance check: uvloop's TCPTransport is not an asyncio.Transport subclass
        # (`podium serve --loop uvloop` could not reach Redis)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except InvalidResponse as exc:  # the stream cannot be trusted any more
                self._fail(RedisConnectionError(f"Protocol error from Redis: {exc}"))
                if self.transport is not None:
                    self.transport.close()
                return
            if reply is False:
                return
            future = self.pending.popleft()
            if future.done():  # its caller was cancelled: the reply is dropped in its turn
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(
            RedisConnectionError(
                "Connection closed by server."
                if exc is None
                else f"Error while reading from the socket: {exc}"
            )
        )
        self._on_lost(self)

    def _fail(self, exc: BaseException) -> None:
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)


class LeanRedis:
    """One connection to one Redis node, commands pipelined; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float | None = None,
        pending_max: int = PENDING_MAX_DEFAULT,
    ) -> None:
        if pending_max < 1:
            raise ValueError("pending_max must be at least 1")
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.connect_timeout_s = connect_timeout_s or CONNECT_TIMEOUT_S
        self.pending_max = pending_max
        self._protocol: _Protocol | None = None
        self._connecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def ready(self) -> bool:
        """Below its bound of commands in flight (a closed connection reconnects on the next call)."""
        return self._protocol is None or len(self._protocol.pending) < self.pending_max

    async def call(self, *args: Any) -> Any:
        """One command's reply (raises redis-py's errors; a refused command raises `ResponseError`)."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.loop is not asyncio.get_running_loop():
            protocol = await self._connect()
        return await self._send(protocol, args)

    async def transaction(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """EXEC's reply to MULTI, `commands`, EXEC, written at once (so no other caller's command
        comes between them and Redis runs them together): a list of each command's reply. Raises
        what EXEC raises (EXECABORT for a command refused while queued) or the first command's
        error in it; a cancelled caller still leaves MULTI ... EXEC whole on the connection."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.loop is not asyncio.get_running_loop():
            protocol = await self._connect()
        transport = protocol.transport
        if transport is None or transport.is_closing():
            raise RedisConnectionError("Connection closed by server.")
        future: asyncio.Future[Any] = protocol.loop.create_future()
        pack = hiredis.pack_command
        packed = b"".join([_MULTI, *[pack(c) for c in commands], _EXEC])
        protocol.pending.extend([protocol.skipped] * (len(commands) + 1))
        protocol.pending.append(future)
        transport.write(packed)
        reply = await future
        if reply is None:  # EXEC's nil: only after a WATCH, which this connection never sends
            raise ResponseError("transaction aborted")
        for item in reply:
            if isinstance(item, ResponseError):
                raise item
        return reply  # type: ignore[no-any-return]

    @staticmethod
    def _send(protocol: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        transport = protocol.transport
        if transport is None or transport.is_closing():
            raise RedisConnectionError("Connection closed by server.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        packed = hiredis.pack_command(args)
        protocol.pending.append(future)
        transport.write(packed)
        return future

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting[0] is not loop:
            self._connecting = (loop, asyncio.Lock())  # a lock belongs to one event loop
        async with self._connecting[1]:
            current = self._protocol
            if current is not None and current.transport is not None:
                if current.loop is loop:
                    return current  # another caller connected meanwhile
                self.close()  # made in another event loop (a test's, a bench round's): not usable here
            self._protocol = None
            sock = None
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    family, kind, proto, _, address = (
                        await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                    )[0]
                    sock = socket.socket(family, kind, proto)
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    await loop.sock_connect(sock, address)
                    transport, protocol = await loop.create_connection(
                        lambda: _Protocol(self._lost), sock=sock
                    )
            except (OSError, TimeoutError) as exc:
                if sock is not None:
                    sock.close()
                raise RedisConnectionError(f"Error connecting to {self.host}:{self.port}: {exc!r}") from exc
            protocol.sock = sock  # ours, to close should its event loop be gone first
            try:
                if self.password is not None:
                    auth = (self.username, self.password) if self.username else (self.password,)
                    await self._send(protocol, ("AUTH", *auth))
                if self.db:
                    await self._send(protocol, ("SELECT", self.db))
            except BaseException:
                transport.close()
                raise
            self._protocol = protocol
            return protocol

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:  # not a newer connection made since
            self._protocol = None

    def close(self) -> None:
        """Closes the connection (commands in flight fail with ConnectionError); a later call reconnects."""
        protocol, self._protocol = self._protocol, None
        if protocol is None or protocol.transport is None:
            return
        if not protocol.loop.is_closed():
            protocol.transport.close()
        elif protocol.sock is not None:  # a closed event loop cannot close its transport any more
            protocol.sock.close()


class LeanPool(aioredis.BlockingConnectionPool):
    """redis-py's blocking pool plus the client's lean connection, closed with the pool."""

    lean: LeanRedis | None = None

    async def disconnect(self, inuse_connections: bool = True) -> None:
        if self.lean is not None:
            self.lean.close()
        await super().disconnect(inuse_connections)


def attach_lean(pool: aioredis.BlockingConnectionPool, pending_max: int) -> None:
    """Gives a `LeanPool` built for a TCP node its lean connection (pending_max 0: none)."""
    if not isinstance(pool, LeanPool) or pending_max <= 0:
        return
    kw = pool.connection_kwargs
    pool.lean = LeanRedis(
        kw.get("host", "localhost"),
        int(kw.get("port", 6379)),
        db=int(kw.get("db", 0) or 0),
        username=kw.get("username"),
        password=kw.get("password"),
        connect_timeout_s=kw.get("socket_connect_timeout"),
        pending_max=pending_max,
    )


class LeanCaller:
    """A client's lean connection, through the client's breaker when it has one."""

    def __init__(self, lean: LeanRedis, guarded: GuardedRedis | None) -> None:
        self.lean = lean
        self.guarded = guarded

    def ready(self) -> bool:
        return self.lean.ready()

    async def call(self, *args: Any) -> Any:
        if self.guarded is None:
            return await self.lean.call(*args)
        return await guarded_call(self.guarded, lambda: self.lean.call(*args))

    async def transaction(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self.guarded is None:
            return await self.lean.transaction(commands)
        reply: list[Any] = await guarded_call(self.guarded, lambda: self.lean.transaction(commands))
        return reply


def lean_of(client: object) -> LeanCaller | None:
    """The lean connection of a client `connect()` built for a plain `redis://` node, else None
    (a cluster, TLS, a unix socket, a client built elsewhere): the caller then uses the client."""
    pool = getattr(client, "connection_pool", None)
    lean = pool.lean if isinstance(pool, LeanPool) else None
    if lean is None:
        return None
    return LeanCaller(lean, client if isinstance(client, GuardedRedis) else None)

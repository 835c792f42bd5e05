"""The adapter to Hypercorn's websocket transport: writes pre-encoded websocket frames straight to a
connection's asyncio transport, so one frame built per tick reaches thousands of sockets with one
`transport.write` each and no per-message Python work (no ASGI message, no wsproto encoding, no
lock, no drain).

Why this is safe: a server frame is unmasked, so the same bytes are a valid frame on every
connection that negotiated no extension; Hypercorn itself writes every frame with one
`writer.write`, so whole frames from both writers never interleave. Compression
(permessage-deflate) keeps a per-connection compressor, which would make every frame per-socket
work: `offer_compression=False` makes Hypercorn accept the socket without it (a client that offered
it simply talks uncompressed; RFC 6455 §9.1), and a connection that did negotiate it is never
written raw. Anything that is not the Hypercorn shape we know gives `None`: the caller then sends
through ASGI as before."""

from __future__ import annotations

import asyncio
import copy
import functools
import struct
import time
import weakref
from dataclasses import dataclass
from typing import Any

from hypercorn.protocol.events import Data, StreamClosed
from hypercorn.protocol.ws_stream import ASGIWebsocketState, FrameTooLargeError, WSStream
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

SCOPE_KEY = "podium.ws_stream"
PING = b"\x89\x00"               # an unmasked ping frame without payload (RFC 6455 §5.5.2)


def frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65_536:
        return b"\x81\x7e" + struct.pack("!H", n) + payload
    return b"\x81\x7f" + struct.pack("!Q", n) + payload


@dataclass(eq=False, slots=True)
class RawSocket:
    transport: Any    # asyncio.WriteTransport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel: how far behind this client is."""
        return int(self.transport.get_write_buffer_size())

    def closing(self) -> bool:
        return bool(self.transport.is_closing())


class SharedPinger:
    """Keep-alive pings for every raw-writable websocket of an app from one task: each
    `interval_s`, one pre-encoded ping frame written to each connected socket.

    Why: Hypercorn runs a ping task per websocket that pings at once on accept, then every
    `websocket_ping_interval`; at a connect storm of 10,000 sockets those first pings (a task, a
    wsproto encoding and a drained write each) were a tenth of the server's CPU (py-spy). A socket
    handed to this pinger gets its own copy of Hypercorn's config without the interval (so no ping
    task) and its first ping within one interval of its accept, then one per interval, as before.
    Pongs are read and dropped by Hypercorn as before."""

    def __init__(self) -> None:
        self.streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self.configs: dict[int, tuple[Any, Any]] = {}    # id(Hypercorn config) -> (config, copy without pings)
        self.task: asyncio.Task[None] | None = None
        self.interval_s = 0.0
        self.sent = 0

    def adopt(self, stream: Any) -> bool:
        """Takes over the stream's pings when it will be raw-writable and Hypercorn would ping it."""
        config = getattr(stream, "config", None)
        interval = getattr(config, "websocket_ping_interval", None)
        if not interval or _transport_of(stream) is None:
            return False
        known = self.configs.get(id(config))
        if known is None or known[0] is not config:
            quiet: Any = copy.copy(config)
            quiet.websocket_ping_interval = None
            known = self.configs[id(config)] = (config, quiet)
        stream.config = known[1]
        self.streams.add(stream)
        self.interval_s = float(interval)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return True

    async def _run(self) -> None:
        while self.streams:
            await asyncio.sleep(self.interval_s)
            self.ping_all()
            await asyncio.sleep(0)

    def ping_all(self) -> int:
        """One ping to every connected socket without extensions; the number written."""
        written = 0
        for stream in list(self.streams):
            if stream.closed:
                self.streams.discard(stream)     # not left to the collector: a stream is in cycles
                continue
            if stream.state is not ASGIWebsocketState.CONNECTED or stream.connection.state is not ConnectionState.OPEN:
                continue     # (a socket Hypercorn closed itself, 1009, is still CONNECTED to ASGI)
            socket = _raw_of(stream)
            if socket is None or socket.closing():
                continue
            socket.write(PING)
            written += 1
        self.sent += written
        return written


class RawStreamMiddleware:
    """Outermost ASGI layer: notes Hypercorn's websocket stream (reached through the `send` it
    hands the app) in the scope, when asked declines permessage-deflate for it, and (without
    compression) hands its keep-alive pings to the app's `SharedPinger` (one per app: an app is
    served by one event loop, and a transport is written from its own loop only). A websocket to
    one of `websocket_routes` goes straight to its app, past the HTTP-only layers."""

    def __init__(self, app: Any, offer_compression: bool = False,
                 websocket_routes: dict[str, Any] | None = None, shared_pings: bool = True,
                 lean_accept: bool = True) -> None:
        self.app = app
        self.lean_accept = lean_accept    # the 101 written as prepared bytes (`_accept`)
        self.offer_compression = offer_compression
        # websocket paths served straight from here: an upgrade skips the HTTP layers (body drain,
        # HTTP metrics, audit, ETag, response cache, exception handlers, routing), which all pass a
        # websocket through untouched; the app given here keeps what a handshake needs (rate limits)
        self.websocket_routes = websocket_routes or {}
        self.pinger = SharedPinger() if shared_pings else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            stream = getattr(send, "__self__", None)
            if isinstance(stream, WSStream):
                scope[SCOPE_KEY] = stream
                stream._handle_events = functools.partial(_handle_events, stream)   # type: ignore[method-assign]
                if self.lean_accept and _transport_of(stream) is not None:     # HTTP/1.1 under Hypercorn's h11
                    stream._accept = functools.partial(_accept, stream)       # type: ignore[method-assign]
                handshake = getattr(stream, "handshake", None)
                if not self.offer_compression and handshake is not None and hasattr(handshake, "extensions"):
                    handshake.extensions = None
                    if self.pinger is not None:
                        self.pinger.adopt(stream)
            direct = self.websocket_routes.get(scope["path"])
            if direct is not None:
                await direct(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _handle_events(stream: Any) -> None:
    """Hypercorn's `WSStream._handle_events`, except that after a too-large message it goes on
    with the events already received instead of dropping them.

    Why: Hypercorn answers a too-large message with close 1009 and then stops reading the events
    of that read. When the client's close reply arrived in the same read (it answers the 1009 at
    once, often before the rest of its large message has been read), that reply was dropped: the
    server never closed the connection, and the client saw the 1009 only after its own close
    timeout, or a bare connection end. Whether it happened depended on how the bytes were split
    into reads (a ping at accept shifted them), which is why it appeared when pings moved to the
    shared pinger. The rest of the too-large message keeps failing the size check, so nothing of
    it reaches the app."""
    for event in stream.connection.events():
        if isinstance(event, Message):
            try:
                stream.buffer.extend(event)
            except FrameTooLargeError:
                await stream._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                continue                         # (a second close is refused by wsproto, harmlessly)
            if event.message_finished:
                await stream.app_put(stream.buffer.to_message())
                stream.buffer.clear()
        elif isinstance(event, Ping):
            await stream._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if stream.connection.state == ConnectionState.REMOTE_CLOSING:
                await stream._send_wsproto_event(event.response())
            await stream.send(StreamClosed(stream_id=stream.stream_id))


async def _accept(stream: Any, message: Any) -> None:
    """Hypercorn's `WSStream._accept` for an HTTP/1.1 upgrade, with the `101` written as one
    prepared byte string through the stream's raw `Data` path instead of an h11
    `InformationalResponse` (built, its headers normalised and validated, passed through h11's state
    machine).

    Why: that was ~6% of a connect storm's server samples (py-spy, 10,000 subscribers). The bytes
    are h11's: the status line without a reason, then each header as `name: value` in Hypercorn's
    order (the handshake's, then its `date`/`server`), then a blank line
    (`tests/kernel/test_ws_accept.py` compares them with Hypercorn's own). The h11 connection is
    already replaced by Hypercorn's websocket pass-through at this point, and nothing reads h11's
    state after an upgrade. Headers added by the app go through Hypercorn's own path (validated)."""
    if message.get("headers") or stream.handshake.http_version != "1.1":
        await WSStream._accept(stream, message)
        return
    stream.state = ASGIWebsocketState.CONNECTED
    status_code, headers, stream.connection = stream.handshake.accept(message.get("subprotocol"), ())
    head = [b"HTTP/1.1 %d \r\n" % status_code]
    for name, value in (*headers, *stream.config.response_headers("h11")):
        head += (name, b": ", value, b"\r\n")
    head.append(b"\r\n")
    await stream.send(Data(stream_id=stream.stream_id, data=b"".join(head)))
    await stream.config.log.access(stream.scope, {"status": status_code, "headers": []}, time.time() - stream.start_time)
    if stream.config.websocket_ping_interval is not None:
        stream.task_group.spawn(stream._send_pings)


def raw_socket(scope: dict[str, Any]) -> RawSocket | None:
    """The raw writer of an accepted websocket without extensions, or None."""
    stream: Any = scope.get(SCOPE_KEY)
    return None if stream is None else _raw_of(stream)


def _raw_of(stream: Any) -> RawSocket | None:
    try:
        if stream.connection._proto.extensions:           # a negotiated extension: frames are per socket
            return None
    except AttributeError:
        return None
    transport = _transport_of(stream)
    return None if transport is None else RawSocket(transport)


def _transport_of(stream: Any) -> Any:
    """The asyncio transport under an HTTP/1.1 websocket stream (known before it is accepted)."""
    try:
        transport = stream.send.__self__.send.__self__.writer.transport   # H11Protocol -> TCPServer
    except AttributeError:
        return None
    if not all(hasattr(transport, a) for a in ("write", "get_write_buffer_size", "is_closing")):
        return None
    return transport

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

import struct
from dataclasses import dataclass
from typing import Any

from hypercorn.protocol.ws_stream import WSStream

SCOPE_KEY = "podium.ws_stream"


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


class RawStreamMiddleware:
    """Outermost ASGI layer: notes Hypercorn's websocket stream (reached through the `send` it
    hands the app) in the scope, and when asked, declines permessage-deflate for it. A websocket to
    one of `websocket_routes` goes straight to its app, past the HTTP-only layers."""

    def __init__(self, app: Any, offer_compression: bool = False,
                 websocket_routes: dict[str, Any] | None = None) -> None:
        self.app = app
        self.offer_compression = offer_compression
        # websocket paths served straight from here: an upgrade skips the HTTP layers (body drain,
        # HTTP metrics, audit, ETag, response cache, exception handlers, routing), which all pass a
        # websocket through untouched; the app given here keeps what a handshake needs (rate limits)
        self.websocket_routes = websocket_routes or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            stream = getattr(send, "__self__", None)
            if isinstance(stream, WSStream):
                scope[SCOPE_KEY] = stream
                handshake = getattr(stream, "handshake", None)
                if not self.offer_compression and handshake is not None and hasattr(handshake, "extensions"):
                    handshake.extensions = None
            direct = self.websocket_routes.get(scope["path"])
            if direct is not None:
                await direct(scope, receive, send)
                return
        await self.app(scope, receive, send)


def raw_socket(scope: dict[str, Any]) -> RawSocket | None:
    """The raw writer of an accepted websocket without extensions, or None."""
    stream: Any = scope.get(SCOPE_KEY)
    if stream is None:
        return None
    try:
        if stream.connection._proto.extensions:           # a negotiated extension: frames are per socket
            return None
        transport = stream.send.__self__.send.__self__.writer.transport   # H11Protocol -> TCPServer
    except AttributeError:
        return None
    if not all(hasattr(transport, a) for a in ("write", "get_write_buffer_size", "is_closing")):
        return None
    return RawSocket(transport)

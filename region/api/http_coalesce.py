"""One socket write per HTTP/1.1 response with a known length, instead of Hypercorn's two.

Why: Hypercorn's h11 protocol writes a response's head the moment the app sends
`http.response.start` and its body, in a second write, at `http.response.body`. Each write is a
`send` on the socket, and on loopback the sender's CPU also runs the receiver's TCP path: a py-spy
profile of the region serving cached top-100 reads flat out (`python -m
podium.devtools.bench.read_paced --profile top100_same_body`) had `_SelectorSocketTransport.write`
as the innermost frame of 34% of the server's samples, more than the whole GraphQL entry (4%
outside its sends). The client also gets two segments for one answer.

What changes: a response whose headers carry `content-length` (every read the region answers
whole: GraphQL, REST, health) has its head held until its first body chunk and written together
with it. A response whose body never comes (`content-length: 0`, a 304, HEAD) has the head written
as soon as the next event arrives (the end of the message), so nothing waits. Streamed responses
(no `content-length`: server-sent events, multipart) keep Hypercorn's immediate head, so a client
sees their headers at once. The bytes on the wire are the same, in one write.

`install()` patches `H11Protocol.stream_send` once per process (it is idempotent, and leaves
Hypercorn untouched when its protocol class does not look as expected). `api.http_coalesce_writes`
turns it off for processes started afterwards."""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

import h11

log = logging.getLogger("podium.region.api.http_coalesce")
_HELD = "_podium_held_head"
_installed = False
ORIGINAL_STREAM_SEND: Any = None   # Hypercorn's own, kept for the tests' comparison


def _has_length(headers: Any) -> bool:
    return any(name.lower() == b"content-length" for name, _ in headers)


def install() -> bool:
    """Patch Hypercorn's HTTP/1.1 protocol (True when it is, or already was, patched)."""
    global _installed, ORIGINAL_STREAM_SEND
    if _installed:
        return True
    try:
        from hypercorn.events import RawData
        from hypercorn.protocol.events import Body, Response
        from hypercorn.protocol.h11 import H11Protocol
    except ImportError:   # another Hypercorn layout: keep its behaviour
        log.warning("hypercorn's h11 protocol not found: responses keep two writes")
        return False
    original = ORIGINAL_STREAM_SEND = H11Protocol.stream_send

    async def stream_send(self: Any, event: Any) -> None:
        held: bytes | None = self.__dict__.pop(_HELD, None)
        if held is None:
            if type(event) is Response and event.status_code >= 200 and _has_length(event.headers):
                # what Hypercorn's own stream_send sends for this event, held instead of written
                headers = list(chain(event.headers, self.config.response_headers("h11")))
                if self.keep_alive_requests >= self.config.keep_alive_max_requests:
                    headers.append((b"connection", b"close"))
                try:
                    head = self.connection.send(h11.Response(headers=headers, status_code=event.status_code))
                except h11.LocalProtocolError:
                    if self.connection.their_state != h11.ERROR:
                        raise
                    return
                if head:
                    self.__dict__[_HELD] = head
                return
            await original(self, event)
            return
        if type(event) is Body:
            try:
                data = self.connection.send(h11.Data(data=event.data))
            except h11.LocalProtocolError:
                if self.connection.their_state != h11.ERROR:
                    raise
                data = b""
            await self.send(RawData(data=held + (data or b"")))
            return
        await self.send(RawData(data=held))   # no body comes first: the head goes out now
        await original(self, event)

    H11Protocol.stream_send = stream_send  # type: ignore[method-assign]
    _installed = True
    return True

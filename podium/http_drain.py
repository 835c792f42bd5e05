"""Every HTTP answer leaves its connection clean: what the app did not read of a request's body is
drained (bounded) before the answer starts, or the connection is closed.

A route that answers without reading the body (the router's 404 and 405, a rate-limit 429, a
refused signature) would otherwise leave the body on a keep-alive connection, where it is read as
the start of the next request, and a client that sends its whole body before reading the answer
would stall on a full socket buffer. Past `REFUSED_BODY_DRAIN_BYTES_MAX` (or a larger declared
Content-Length) nothing more is read and the answer carries `Connection: close`."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium.errors import BadUserInput, NotFound, PodiumError
from podium.http import REFUSED_BODY_DRAIN_BYTES_MAX, error_response


class BodyDrainMiddleware:
    """Outermost middleware of every tier (pure ASGI: it adds one flag check to a request whose body
    the app has read)."""

    def __init__(self, app: ASGIApp, drain_bytes_max: int = REFUSED_BODY_DRAIN_BYTES_MAX) -> None:
        self.app = app
        self.drain_bytes_max = drain_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def tracked_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True   # the last body chunk, or a disconnect: nothing more will come
            return message

        async def draining_send(message: Message) -> None:
            nonlocal body_done
            if message["type"] == "http.response.start" and not body_done:
                if not await self._drain(scope, tracked_receive):
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
                body_done = True
            await send(message)

        await self.app(scope, tracked_receive, draining_send)

    async def _drain(self, scope: Scope, receive: Receive) -> bool:
        """Reads and drops the rest of the body; False when it is too large to read (close instead)."""
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.drain_bytes_max:
            return False
        drained = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
            if drained > self.drain_bytes_max:
                return False


_HTTP_CODES: dict[int, type[PodiumError]] = {404: NotFound}


async def http_refusal(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (the router's 404 and 405) as coded JSON like every other error,
    keeping their headers (`Allow` on a 405)."""
    assert isinstance(exc, HTTPException)
    error = _HTTP_CODES.get(exc.status_code, BadUserInput)(exc.detail)
    response = error_response(error)
    response.status_code = exc.status_code
    response.headers.update(exc.headers or {})
    return response

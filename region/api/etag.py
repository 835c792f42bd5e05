"""ETags for cacheable GET /graphql responses: a strong validator over the body, and
`304 Not Modified` when the client's If-None-Match matches (the body is still computed: the point
is to save the transfer and let CDNs revalidate cheaply). `with_etag` is the rule itself, shared
by the middleware (the general chain) and the one-pass GraphQL entry."""

from __future__ import annotations

import hashlib
from typing import Any

Headers = list[tuple[bytes, bytes]]


def with_etag(status: int, headers: Headers, body: bytes, if_none_match: bytes) -> tuple[int, Headers, bytes]:
    """The answer as sent to a GET: untouched unless it is a public 200; then with its ETag, and a
    bodiless 304 when `if_none_match` (a comma-separated list) names it."""
    cacheable = status == 200 and any(k.lower() == b"cache-control" and v.startswith(b"public") for k, v in headers)
    if not cacheable:
        return status, headers, body
    etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"etag", etag)]
    if etag in [t.strip() for t in if_none_match.split(b",")]:
        return 304, headers, b""
    headers.append((b"content-length", str(len(body)).encode()))
    return 200, headers, body


class ETagMiddleware:
    def __init__(self, app: Any, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            wanted = dict(scope.get("headers") or []).get(b"if-none-match", b"")
            status, headers, body = with_etag(start.get("status", 0), list(start.get("headers", [])),
                                              b"".join(chunks), wanted)
            if status == start.get("status") and headers == list(start.get("headers", [])):
                await send(start)   # untouched (the original message, with any extra keys)
            else:
                await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)

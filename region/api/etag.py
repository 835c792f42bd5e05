"""ETags for cacheable GET /graphql responses: a strong validator over the body, and
`304 Not Modified` when the client's If-None-Match matches (the body is still computed: the point
is to save the transfer and let CDNs revalidate cheaply)."""

from __future__ import annotations

import hashlib
from typing import Any


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
            body = b"".join(chunks)
            headers = list(start.get("headers", []))
            cacheable = start.get("status") == 200 and any(
                k.lower() == b"cache-control" and v.startswith(b"public") for k, v in headers)
            if not cacheable:
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
            wanted = dict(scope.get("headers") or []).get(b"if-none-match", b"")
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"etag", etag)]
            if etag in [t.strip() for t in wanted.split(b",")]:
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)

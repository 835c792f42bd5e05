"""ETagMiddleware (region/api/etag.py) around a tiny ASGI app: a strong ETag on cacheable GET
/graphql answers, 304 when If-None-Match names it (any of a list), and nothing touched otherwise."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from podium.region.api.etag import ETagMiddleware

pytestmark = pytest.mark.anyio
BODY = b'{"data":{"count":3}}'


def app_answering(status: int, cache_control: bytes | None) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
        if cache_control is not None:
            headers.append((b"cache-control", cache_control))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": BODY[:5], "more_body": True})
        await send({"type": "http.response.body", "body": BODY[5:]})
    return app


async def call(app: Any, method: str = "GET", path: str = "/graphql",
               if_none_match: bytes | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"if-none-match", if_none_match)] if if_none_match is not None else []
    await ETagMiddleware(app)({"type": "http", "method": method, "path": path, "headers": headers}, None, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


ETAG = b'"' + hashlib.sha256(BODY).hexdigest()[:32].encode() + b'"'


async def test_cacheable_answers_get_a_strong_etag_and_304_when_it_matches() -> None:
    app = app_answering(200, b"public, max-age=5")
    status, headers, body = await call(app)
    assert (status, headers[b"etag"], body, headers[b"content-length"]) == (200, ETAG, BODY, str(len(BODY)).encode())
    status, headers, body = await call(app, if_none_match=b'"other", ' + ETAG)
    assert (status, body, headers[b"etag"]) == (304, b"", ETAG)
    assert b"content-length" not in headers
    assert (await call(app, if_none_match=b'"stale"'))[0] == 200


@pytest.mark.parametrize("status, cache_control, method, path", [
    (200, None, "GET", "/graphql"),                         # not marked cacheable
    (200, b"private, no-store", "GET", "/graphql"),
    (400, b"public, max-age=5", "GET", "/graphql"),         # an error is never validated
    (200, b"public, max-age=5", "POST", "/graphql"),        # only GETs
    (200, b"public, max-age=5", "GET", "/healthz"),         # only the GraphQL path
])
async def test_other_answers_pass_untouched(status: int, cache_control: bytes | None, method: str, path: str) -> None:
    got_status, headers, body = await call(app_answering(status, cache_control), method, path, if_none_match=ETAG)
    assert (got_status, body) == (status, BODY) and b"etag" not in headers

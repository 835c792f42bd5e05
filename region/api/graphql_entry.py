"""One pass for GET and POST /graphql: the whole HTTP chain of a GraphQL read, inline.

Through the general chain a read passes six stacked ASGI middlewares (body drain, metrics, rate
limit, audit, ETag, response cache), each wrapping `receive` and `send` in closures and each
re-reading the scope, before the router finds the view; for a compiled plan that chain was 40–50%
of the request's CPU. This entry sits first in the stack and, for GET and POST /graphql, does what
those layers do, in their order, on one copy of the request:

1. reads the body once (up to `api.response_cache_body_bytes_max`; a larger body goes the
   general way untouched, as the response cache would pass it);
2. charges the rate limit (`podium.rate_limit.charge`, the same buckets and fail-open rule), and
   answers a refusal with the middleware's own 429;
3. answers from the shared whole-response cache (`ResponseCache`), or asks the view for the
   answer (`PodiumGraphQL.respond`: a compiled plan, or the fast or general path) and stores it
   by the same rule;
4. adds the ETag (and 304) to a GET by the same rule (`with_etag`);
5. records the request's latency under the same route, method and status.

Audit records only `/v1/admin/` writes and body draining has nothing left to drain (the body was
read whole), so neither has work here. Everything else (websockets, other paths and methods) goes
through the general chain unchanged. `api.graphql_one_pass` turns it off; the two chains answer
the same status, headers and bytes (tests/region/test_graphql_entry.py)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from podium.region.api.etag import Headers, with_etag
from podium.region.api.response_cache import ResponseCache, read_body_bounded, replay, service_of_scope
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import PodiumError
from podium.gql.view import PodiumGraphQL
from podium.http import podium_error
from podium.http_drain import http_refusal
from podium.rate_limit import charge, limited_response, note_refusal

_METHODS = ("GET", "POST")


async def _no_more_body() -> dict[str, Any]:
    """What `receive` gives once the body is read: the view never waits on the socket."""
    return {"type": "http.disconnect"}


class GraphQLEntry:
    """The first middleware of a region app. `route` is the app's /graphql route (set on the scope
    as the router would); `cache` the store the general chain's response cache uses."""

    def __init__(self, app: Any, view: PodiumGraphQL, route: Any, cache: ResponseCache, enabled: bool = True,
                 path: str = "/graphql") -> None:
        self.app = app
        self.view = view
        self.route = route
        self.cache = cache
        self.enabled = enabled
        self.path = path
        self.answered = 0   # requests this entry answered (tests check it is taken)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (not self.enabled or scope["type"] != "http" or scope["path"] != self.path
                or scope["method"] not in _METHODS or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        service = service_of_scope(scope)
        if service is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, more = await read_body_bounded(receive, service.settings.api.response_cache_body_bytes_max)
        if more:   # beyond anything cached: the general chain reads it (and refuses it, 413)
            await self.app(scope, replay(body, receive, more=True), send)
            return
        self.answered += 1
        status = 500   # an exception escaping the view is what the client sees as a 500
        try:
            status = await self._answer(scope, body, service, send)
        finally:
            service.telemetry.http_latency.child(self.path, scope["method"], str(status))(
                (time.perf_counter() - started) * 1000)

    async def _answer(self, scope: dict[str, Any], body: bytes, service: Any, send: Any) -> int:
        headers = dict(scope.get("headers") or [])
        buckets = service.rate_limits
        if buckets is not None:
            client = scope.get("client") or ("unknown", 0)
            refused = await charge(buckets, headers, client[0])
            if refused is not None:
                note_refusal(service, scope["path"])
                limited_headers, limited_body = limited_response(refused, graphql=True)
                return await _send(send, 429, limited_headers, limited_body)
        api = service.settings.api
        cacheable = ResponseCache.enabled(api) and b"no-cache" not in headers.get(b"cache-control", b"").lower()
        key, now, hit = b"", 0.0, None
        if cacheable:
            key = ResponseCache.key(scope["method"], scope.get("query_string", b""), body, headers)
            now = service.clock.monotonic()
            hit = self.cache.lookup(key, now)
        if hit is not None:
            status, out_headers, out_body = hit[1], hit[2], hit[3]
        else:
            status, out_headers, out_body = await self._respond(scope, body)
            if cacheable:
                self.cache.store(key, status, out_headers, out_body, now, api)
        if scope["method"] == "GET":
            status, out_headers, out_body = with_etag(status, list(out_headers), out_body,
                                                      headers.get(b"if-none-match", b""))
        return await _send(send, status, out_headers, out_body)

    async def _respond(self, scope: dict[str, Any], body: bytes) -> tuple[int, Headers, bytes]:
        """The view's answer, as the router and the exception middleware would have produced it."""
        scope["route"] = self.route
        scope["endpoint"] = self.view
        scope["path_params"] = {}
        scope.setdefault("router", scope["app"].router)
        request = Request(scope, _no_more_body)
        request._body = body   # Starlette's stream() hands this out; the socket is not read again
        try:
            response = await self.view.respond(request)
        except PodiumError as exc:
            response = await podium_error(request, exc)
        except HTTPException as exc:
            response = await http_refusal(request, exc)
        if not hasattr(response, "body"):   # a streamed answer: collected, as the ETag layer does
            return await _collect(response, scope)
        return response.status_code, response.raw_headers, bytes(response.body)


async def _collect(response: Response, scope: dict[str, Any]) -> tuple[int, Headers, bytes]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await response(scope, _no_more_body, capture)
    return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(chunks)


async def _send(send: Any, status: int, headers: Headers, body: bytes) -> int:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status

"""ASGI middleware timing every HTTP request into `podium_http_request_duration` (ms), labelled by
route template (never the raw path: bounded cardinality), method and status code.

It is the outermost middleware, so the time includes rate limiting, caches and error handlers: the
latency a client sees for `POST /v1/scores` is the ingest ack latency the SLO is written against."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "unmatched"  # 404s and anything no route claimed


class HttpMetricsMiddleware:
    """Records into `app.state.service.telemetry.http_latency` (the service is built in the lifespan,
    after the middleware stack, so it is looked up per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping every handler is what the client sees as a 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            service = getattr(getattr(scope.get("app"), "state", None), "service", None)
            if service is not None:
                service.telemetry.http_latency.record((time.perf_counter() - started) * 1000, {
                    "route": _route_of(scope), "method": str(scope.get("method", "")), "status": str(status)})


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None)
    if path:
        return str(path)
    # Answered before routing (a response-cache hit): a static route of the same path names it.
    static = {getattr(r, "path_format", None) for r in getattr(scope.get("app"), "routes", [])}
    return str(scope.get("path")) if scope.get("path") in static else UNMATCHED_ROUTE

"""The region's ASGI app: Starlette routes + Strawberry GraphQL (HTTP and both websocket protocols)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from podium.region.api import http
from podium.region.api.etag import ETagMiddleware
from podium.region.api.openapi import openapi
from podium.region.api.response_cache import ResponseCacheMiddleware
from podium.region.api.schema import build_schema
from podium.region.service import RegionService
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from podium.clock import Clock
from podium.config import Settings
from podium.errors import PodiumError
from podium.gql.persisted import default_operations_dir, persisted_queries
from podium.gql.view import PodiumGraphQL
from podium.http import podium_error, unexpected_error
from podium.rate_limit import RateLimitMiddleware

log = logging.getLogger("podium.app")


class RegionGraphQL(PodiumGraphQL):
    async def get_context(self, request: Request | WebSocket, response: Any = None) -> dict[str, Any]:
        service = request.app.state.service
        return {"service": service, "request": request, "response": response, "telemetry": service.telemetry}


def create_app(settings: Settings, clock: Clock | None = None, service: RegionService | None = None) -> Starlette:
    """The region app. The service (Redis client, stores) is built in the lifespan unless given."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = service or RegionService.build(settings, clock)
        await svc.open()
        app.state.service = svc
        try:
            yield
        finally:
            if service is None:
                await svc.close()

    graphql = RegionGraphQL(build_schema(settings.api), body_bytes_max=settings.api.graphql_body_bytes_max,
                            connection_init_wait_ms=settings.api.connection_init_wait_ms,
                            max_subscriptions_per_connection=settings.api.subscriptions_per_connection_max,
                            persisted=persisted_queries(settings, default_operations_dir()))
    routes = [
        Route("/v1/scores", http.post_scores, methods=["POST"]),
        Route("/v1/admin/boards", http.boards_endpoint, methods=["GET", "POST"]),
        Route("/v1/admin/quarantine", http.quarantine_endpoint, methods=["GET"]),
        Route("/v1/admin/replication/{action}", http.replication_endpoint, methods=["GET", "POST"]),
        Route("/openapi.json", openapi),
        Route("/healthz", http.healthz),
        Route("/metrics", http.metrics),
        Route("/readyz", http.readyz),
        # Route + WebSocketRoute, not Mount: websocket upgrades fail under Mount.
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RateLimitMiddleware), Middleware(ETagMiddleware), Middleware(ResponseCacheMiddleware)],
        exception_handlers={PodiumError: podium_error, Exception: unexpected_error},
    )

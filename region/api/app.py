"""The region's ASGI app: Starlette routes + Strawberry GraphQL (HTTP and both websocket protocols)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from podium.region.api import http
from podium.region.api.etag import ETagMiddleware
from podium.region.api.graphql_entry import GraphQLEntry
from podium.region.api.openapi import openapi
from podium.region.api.reads import read_routes
from podium.region.api.response_cache import ResponseCache, ResponseCacheMiddleware
from podium.region.api.schema import build_schema
from podium.region.api.subscriptions import LIVE_OPENERS
from podium.region.contests.routes import contest_routes
from podium.region.contests.wiring import close_contests, open_contests
from podium.region.notifications.http import notification_routes
from podium.region.notifications.wiring import close_notifications, open_notifications
from podium.region.service import RegionService
from podium.region.trending import http as trending_http
from podium.region.wiring import build_region
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from podium.clock import Clock
from podium.config import Settings
from podium.errors import PodiumError
from podium.gql.live_direct import LiveDirect
from podium.gql.live_subscribe import LiveSubscribe, live_subscribe
from podium.gql.persisted import default_operations_dir, persisted_queries
from podium.gql.view import PodiumGraphQL
from podium.gql.ws_handlers import HandshakeHeaders
from podium.gql.ws_raw import RawStreamMiddleware
from podium.http import healthz, podium_error, unexpected_error
from podium.http_drain import BodyDrainMiddleware, http_refusal
from podium.http_metrics import HttpMetricsMiddleware
from podium.rate_limit import RateLimitMiddleware
from podium.web.audit_rest import AuditRestMiddleware
from podium.web.graphiql import LocalGraphiQL
from podium.web.routes import web_routes

log = logging.getLogger("podium.app")

# The hot reads a compiled plan may answer (podium.gql.compiled): resolvers that read nothing of
# `info` but its context. Everything else, and any error, is answered by the general path.
PLANNED_RESOLVERS = frozenset({"Query.leaderboard", "Query.around", "Query.page", "Query.count", "Query.player",
                               "Query.players", "Player.rank", "Player.score", "Player.entry",
                               "Query.notifications"})
# The live subscriptions started past Strawberry's per-operation set-up (podium.gql.live_subscribe).
LIVE_SUBSCRIPTIONS = frozenset({"topChanged", "rankChanged"})


class RegionGraphQL(LocalGraphiQL, PodiumGraphQL):
    live: LiveSubscribe | None = None   # known live subscriptions' start past Strawberry's set-up
    live_direct: LiveDirect | None = None   # ... and straight to the fan-out as push sinks (graphql-transport-ws)

    def get_websocket_headers(self, request: WebSocket) -> HandshakeHeaders:
        return HandshakeHeaders(request.scope["headers"])

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> dict[str, Any]:
        service = request.app.state.service
        return {"service": service, "request": request, "response": response, "telemetry": service.telemetry}


def create_app(settings: Settings, clock: Clock | None = None, service: RegionService | None = None) -> Starlette:
    """The region app. The service (Redis client, stores) is built in the lifespan unless given."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = service or build_region(settings, clock)
        await svc.open()
        app.state.service = svc
        app.state.contests = await open_contests(settings, svc.redis, svc.clock) if settings.contests.enabled else None
        app.state.notifications = (await open_notifications(settings, svc.redis, svc.clock, svc.fanout,
                                                            svc.boards, svc.store,
                                                            app.state.contests.service.store if app.state.contests else None,
                                                            supervisor=svc.supervisor)
                                   if settings.notifications.enabled and svc.fanout is not None else None)
        try:
            yield
        finally:
            if app.state.notifications is not None:
                await close_notifications(app.state.notifications)
            if app.state.contests is not None:
                await close_contests(app.state.contests)
            if service is None:
                await svc.close()

    graphql = RegionGraphQL(build_schema(settings.api), body_bytes_max=settings.api.graphql_body_bytes_max,
                            connection_init_wait_ms=settings.api.connection_init_wait_ms,
                            max_subscriptions_per_connection=settings.api.subscriptions_per_connection_max,
                            persisted=persisted_queries(settings, default_operations_dir()),
                            fast_path=settings.api.graphql_fast_path,
                            planned_resolvers=PLANNED_RESOLVERS if settings.api.graphql_compiled_plans else frozenset())
    graphql.live = live_subscribe(graphql, LIVE_SUBSCRIPTIONS if settings.api.graphql_live_subscribe else ())
    if graphql.live is not None and settings.api.graphql_live_direct:
        graphql.live_direct = LiveDirect(graphql.live.schema._schema,
                                         {k: v for k, v in LIVE_OPENERS.items() if k in LIVE_SUBSCRIPTIONS},
                                         settings.api.graphql_live_operations_max,
                                         settings.api.graphql_live_arguments_max)
    response_cache = ResponseCache()   # one store for both chains
    routes = [
        Route("/v1/scores", http.post_scores, methods=["POST"]),
        Route("/v1/events", trending_http.post_events, methods=["POST"]),
        Route("/v1/admin/boards", http.boards_endpoint, methods=["GET", "POST"]),
        Route("/v1/admin/streams", trending_http.streams_endpoint, methods=["GET", "POST"]),
        Route("/v1/admin/quarantine", http.quarantine_endpoint, methods=["GET"]),
        Route("/v1/admin/replication/{action}", http.replication_endpoint, methods=["GET", "POST"]),
        *contest_routes(),
        *notification_routes(),
        *(read_routes() if settings.api.rest_reads else []),
        Route("/openapi.json", openapi),
        Route("/healthz", healthz),
        Route("/metrics", http.metrics),
        Route("/readyz", http.readyz),
        # Route + WebSocketRoute, not Mount: websocket upgrades fail under Mount.
        graphql_route := Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *web_routes("region"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # the first layer answers GET/POST /graphql itself, as the rest of the chain would (one pass);
        # the websocket upgrade of /graphql skips the HTTP-only layers below (podium.gql.ws_raw)
        middleware=[Middleware(GraphQLEntry, view=graphql, route=graphql_route, cache=response_cache,
                               enabled=settings.api.graphql_one_pass),
                    Middleware(RawStreamMiddleware, offer_compression=settings.api.ws_compression,
                               lean_accept=settings.api.ws_lean_accept,
                               websocket_routes={"/graphql": RateLimitMiddleware(graphql)}),
                    Middleware(BodyDrainMiddleware), Middleware(HttpMetricsMiddleware), Middleware(RateLimitMiddleware),
                    Middleware(AuditRestMiddleware),
                    Middleware(ETagMiddleware), Middleware(ResponseCacheMiddleware, store=response_cache)],
        exception_handlers={PodiumError: podium_error, HTTPException: http_refusal, Exception: unexpected_error},
    )

"""The global tier's ASGI app: signed replication intake from the regions, GraphQL reads, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from podium.global_.merge_trace import merge_span
from podium.global_.notifications_http import global_notification_routes
from podium.global_.notifications_wiring import close_global_notifications, open_global_notifications
from podium.global_.read_plans import planned_resolvers
from podium.global_.schema import build_global_schema
from podium.global_.service import GlobalService
from podium.global_.staleness import FeedReport
from podium.global_.trending_live import start_global_live
from podium.replication.changes import SEQ_SUB_BITS, Change
from podium.replication.digest import BUCKETS, bucket_of, digests
from podium.replication.trending_wire import TRENDING_PATH
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from podium.clock import Clock
from podium.config import Settings
from podium.errors import BadUserInput, PodiumError, Unauthenticated, Unavailable
from podium.gql.persisted import default_operations_dir, persisted_queries
from podium.gql.view import PodiumGraphQL
from podium.gql.ws_raw import RawStreamMiddleware
from podium.http import (
    check_admin,
    healthz,
    json_response,
    metrics_response,
    parse_json,
    podium_error,
    read_body,
    readiness,
    stream_page_args,
    unexpected_error,
)
from podium.http_drain import BodyDrainMiddleware, http_refusal
from podium.http_metrics import HttpMetricsMiddleware
from podium.model import Board
from podium.rate_limit import RateLimitMiddleware
from podium.signing import verify
from podium.web.graphiql import LocalGraphiQL
from podium.web.routes import web_routes


def _global_operations_dir() -> Path | None:
    region_dir = default_operations_dir()
    return region_dir / "global" if region_dir is not None and (region_dir / "global").is_dir() else None


class GlobalGraphQL(LocalGraphiQL, PodiumGraphQL):
    web_tier = "global"

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> dict[str, Any]:
        service = request.app.state.service
        return {"service": service, "request": request, "response": response, "telemetry": service.telemetry}


def service_of(request: Request) -> GlobalService:
    service: GlobalService = request.app.state.service
    return service


async def _verified_doc(request: Request) -> tuple[GlobalService, dict[str, Any]]:
    service = service_of(request)
    secret = service.settings.replication.secret
    if not secret:
        raise Unauthenticated("replication is not configured on the global tier (replication.secret)")
    body = await read_body(request, service.settings.replication.body_bytes_max)
    region = request.headers.get("x-podium-key", "")
    verify(request.headers, request.method, request.url.path, body, {region: secret} if region else {},
           service.clock.now_ms(), service.settings.ingest.signature_window_ms)
    doc = parse_json(body)
    if not isinstance(doc, dict) or doc.get("region") != region:
        raise BadUserInput("body must be an object whose 'region' matches the signing key id")
    return service, doc


async def replicate(request: Request) -> Response:
    service, doc = await _verified_doc(request)
    with merge_span(service.telemetry.tracer, request.headers, doc):
        merged = await apply_replicated(service, doc)
    return json_response({"ok": True, "merged": merged})


async def replicate_trending(request: Request) -> Response:
    """A region's trending cells (global/trending_service.py), signed like its score batches."""
    service, doc = await _verified_doc(request)
    if service.trending is None:
        raise Unavailable("trending is not running on this global tier")
    return json_response({"ok": True, **await service.trending.intake(doc)})


def _feed_reports(service: GlobalService, doc: dict[str, Any]) -> dict[str, FeedReport]:
    raw = doc.get("feeds", {})
    if not isinstance(raw, dict) or len(raw) > service.settings.replication.feed_reports_max:
        raise BadUserInput("'feeds' must be an object of at most "
                           f"{service.settings.replication.feed_reports_max} boards")
    try:
        return {str(board): FeedReport.from_wire(row) for board, row in raw.items()}
    except ValueError as exc:
        raise BadUserInput(str(exc)) from exc


async def apply_replicated(service: GlobalService, doc: dict[str, Any]) -> int:
    """A verified region batch (or heartbeat), from HTTP or from the replication log. Its feed
    reports (where the region's change streams stand) are taken after the batch is merged."""
    region = doc["region"]
    status = service.region(region)
    now = service.clock.now_ms()
    reports = _feed_reports(service, doc)
    if doc.get("board") is None:  # heartbeat
        await service.observe(region, reports)
        return 0
    if not isinstance(doc["board"], dict):
        raise BadUserInput("'board' must be an object")
    incoming = Board.from_dict(doc["board"])
    # the registry's cached definition serves every batch but a board's first (or a new season's)
    board = await service.boards.get(incoming.id) or await service.boards.create(incoming, exist_ok=True)
    if incoming.season > board.season:
        # the region reset the board (a new season): the global board follows, or every change of
        # the new season would be filtered out below
        board = await service.boards.update(incoming)
    rows = doc.get("changes")
    if not isinstance(rows, list):
        raise BadUserInput("'changes' must be an array")
    try:
        changes = [Change.from_wire(region, row) for row in rows]
    except (TypeError, ValueError) as exc:
        raise BadUserInput(f"malformed change: {exc}") from exc
    mine = [c for c in changes if c.board == board.id and c.season == board.season]
    merged: int = await service.store.apply(board, mine)
    if mine:
        (await service.feed(region, board)).merged(max(c.seq for c in mine))
    await service.observe(region, reports)
    if changes:
        lags = [max(0, now - (c.seq >> SEQ_SUB_BITS)) for c in changes]
        status.record_lags(lags)
        # the histogram counts regional commits (one apply call's changes share its seq and lag):
        # recording each change would cost more than the merge itself
        attributes = {"source_region": region}
        for seq in {c.seq for c in changes}:
            service.convergence_lag.record(max(0, now - (seq >> SEQ_SUB_BITS)), attributes)
        newest_commit_ms = max(c.seq for c in changes) >> SEQ_SUB_BITS
        status.last_change_ms = max(status.last_change_ms, newest_commit_ms)
        status.changes_received += len(changes)
    return merged


async def replicate_digest(request: Request) -> Response:
    """Anti-entropy: the digests of one region's contributions to a board, as the global tier holds them."""
    service = service_of(request)
    secret = service.settings.replication.secret
    region = request.headers.get("x-podium-key", "")
    if not secret:
        raise Unauthenticated("replication is not configured on the global tier (replication.secret)")
    verify(request.headers, request.method, request.url.path, b"", {region: secret} if region else {},
           service.clock.now_ms(), service.settings.ingest.signature_window_ms)
    board_id = request.query_params.get("board", "")
    season_s = request.query_params.get("season", "0")
    if request.query_params.get("region") != region or not season_s.isdigit():
        raise BadUserInput("region must match the signing key id; season must be a number")
    buckets_s = request.query_params.get("buckets")
    wanted = set(buckets_s.split(",")) if buckets_s is not None else set()
    if not all(b.isdigit() and int(b) < BUCKETS for b in wanted):
        raise BadUserInput(f"buckets must be comma-separated numbers below {BUCKETS}")
    board = await service.boards.get(board_id)
    rows: list[tuple[str, int, int]] = []
    if board is not None and board.season == int(season_s):
        for player, state in (await service.store.all_states(board)).items():
            if region in state and state[region][1] >= 0:   # a tombstone: the region holds no entry
                score, ts, _ = state[region]
                rows.append((player, score, ts))
    if buckets_s is not None:
        # the players of these buckets the global tier records as held by this region, a page at
        # a time: the region announces as removed those it no longer holds (a trimmed tombstone)
        numbers = {int(b) for b in wanted}
        after = request.query_params.get("after", "")
        limit = service.settings.replication.digest_players_page_max
        page = sorted(p for p, _, _ in rows if p > after and bucket_of(p) in numbers)[:limit]
        return json_response({"board": board_id, "region": region, "players": page,
                              "next": page[-1] if len(page) == limit else None})
    return json_response({"board": board_id, "region": region, "digests": digests(rows)})


async def regions(request: Request) -> Response:
    """Per-region replication status, and the replication log consumer's counters (null over HTTP only)."""
    service = service_of(request)
    consumer = request.app.state.replication_consumer
    return json_response({"regions": [
        {"region": s.region, "last_contact_ms": s.last_contact_ms, "lag_ms": service.lag_ms(s),
         "stale": service.is_stale(s), "changes_received": s.changes_received,
         "convergence_lag_ms": s.lag_quantiles()}
        for s in sorted(service.regions.values(), key=lambda s: s.region)
    ], "replication_log": consumer.stats() if consumer is not None else None})


async def directory(request: Request) -> Response:
    """The region directory: every region's URL and health, healthy first (public: game servers
    bootstrap their region list from it)."""
    return json_response({"regions": service_of(request).directory_entries()})


async def conflicts_endpoint(request: Request) -> Response:
    """Admins: the conflict log of a `latest` board (concurrent cross-region writes and who won)."""
    service = service_of(request)
    check_admin(request.headers, service.settings.admin_keys)
    board = await service.boards.require(request.query_params.get("board", ""))
    limit, after = stream_page_args(request)
    counts = await service.store.conflict_counts()
    rows = await service.store.conflicts(board, limit, after)
    return json_response({"board": board.id, "count": counts.get(board.id, 0),
                          "next": rows[-1]["id"] if len(rows) == limit else None, "conflicts": rows})


async def metrics(request: Request) -> Response:
    return metrics_response(service_of(request).telemetry)


async def readyz(request: Request) -> Response:
    service = service_of(request)
    return readiness(await service.store.ping(), service.supervisor, service.breakers)   # the adapter's probe


def create_global_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service = GlobalService.build(settings, clock)
        await service.open()
        start_global_live(service)          # trendingChanged's fan-out
        app.state.service = service
        # rules on global ranks, delivered as webhooks (docs/notifications.md)
        app.state.notifications = open_global_notifications(service) if settings.notifications.enabled else None
        consumer = None
        if settings.replication.transport == "kafka":
            from podium.global_.region_metrics import observe_consumer
            from podium.global_.replication_consumer import ReplicationConsumer

            consumer = ReplicationConsumer(service, apply_replicated)
            observe_consumer(service.telemetry.provider.get_meter("podium"), consumer)
            consumer.start(service.supervisor)
        app.state.replication_consumer = consumer
        try:
            yield
        finally:
            if consumer is not None:
                await consumer.stop()
            if app.state.notifications is not None:
                await close_global_notifications(app.state.notifications)
            await service.close()

    graphql = GlobalGraphQL(build_global_schema(settings.api), body_bytes_max=settings.api.graphql_body_bytes_max,
                            connection_init_wait_ms=settings.api.connection_init_wait_ms,
                            max_subscriptions_per_connection=settings.api.subscriptions_per_connection_max,
                            persisted=persisted_queries(settings, _global_operations_dir()),
                            fast_path=settings.api.graphql_fast_path, planned_resolvers=planned_resolvers(settings))
    return Starlette(
        routes=[
            Route("/v1/replicate", replicate, methods=["POST"]),
            Route("/v1/replicate/digest", replicate_digest, methods=["GET"]),
            Route(TRENDING_PATH, replicate_trending, methods=["POST"]),
            Route("/v1/regions", regions),
            Route("/v1/directory", directory),
            Route("/v1/admin/conflicts", conflicts_endpoint),
            *global_notification_routes(),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *web_routes("global"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RawStreamMiddleware, offer_compression=settings.api.ws_compression),
                    Middleware(BodyDrainMiddleware), Middleware(HttpMetricsMiddleware), Middleware(RateLimitMiddleware)],
        exception_handlers={PodiumError: podium_error, HTTPException: http_refusal, Exception: unexpected_error},
    )


__all__ = ["create_global_app"]

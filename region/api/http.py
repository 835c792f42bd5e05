"""Starlette endpoints of a region: signed score batches, admin boards/quarantine, health."""

from __future__ import annotations

import hashlib
import hmac
import logging

from podium.region.service import RegionService
from podium.region.stream.tracing import request_span
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import BadUserInput, Forbidden, Unauthenticated
from podium.http import json_response, metrics_response, read_body, read_json, readiness, stream_page_args
from podium.model import Board
from podium.signing import verify
from podium.web.admin_identity import admin_from_jwt_sync, key_name

log = logging.getLogger("podium.region.http")
IDEMPOTENCY_HEADER = "idempotency-key"
IDEMPOTENCY_KEY_LEN_MAX = 128


def service_of(request: Request) -> RegionService:
    service: RegionService = request.app.state.service
    return service


async def post_scores(request: Request) -> Response:
    service = service_of(request)
    limits = service.settings.ingest
    body = await read_body(request, limits.body_bytes_max)
    verified = verify(
        request.headers, request.method, request.url.path, body,
        service.settings.game_server_keys, service.clock.now_ms(), limits.signature_window_ms,
    )
    await service.replay_guard.check(verified)
    idem_key = request.headers.get(IDEMPOTENCY_HEADER)
    if idem_key is not None and not 0 < len(idem_key) <= IDEMPOTENCY_KEY_LEN_MAX:
        raise BadUserInput(f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_LEN_MAX} characters")
    # event-log mode: `?wait=true` also waits (bounded) for the worker and reports the resulting ranks
    wait = request.query_params.get("wait", "false").lower() in ("true", "1")
    # a traced request's context reaches the stream worker in the records' Kafka headers
    with request_span(service.telemetry.tracer, "POST /v1/scores", request.headers, service.telemetry.exporting_spans):
        encoded = await service.ingest.submit_body(body, scope=verified.key_id, idem_key=idem_key, wait=wait,
                                                   body_digest=hashlib.sha256(body).hexdigest())
    return Response(encoded, media_type="application/json")


def require_admin(request: Request) -> None:
    """An admin key, or an admin JWT checked with a locally held key; the admin's audit name is
    left in `request.state.admin_name` (the audit middleware records successful admin POSTs)."""
    settings = service_of(request).settings
    auth = request.headers.get("authorization", "")
    given = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else request.headers.get("x-podium-admin-key", "")
    if not given:
        raise Unauthenticated("admin endpoints need 'Authorization: Bearer <admin key>'")
    if any(hmac.compare_digest(given, k) for k in settings.admin_keys):
        request.state.admin_name = key_name(given)
        return
    name = admin_from_jwt_sync(given, settings)
    if name is None:
        raise Forbidden("not an admin key")
    request.state.admin_name = name


async def boards_endpoint(request: Request) -> Response:
    require_admin(request)
    service = service_of(request)
    if request.method == "GET":
        boards = await service.boards.refresh()
        return json_response({"boards": [b.to_dict() for b in sorted(boards.values(), key=lambda b: b.id)]})
    doc = await read_json(request, 65_536)
    if not isinstance(doc, dict):
        raise BadUserInput("body must be a JSON object describing a board")
    board = await service.admin.create_board(Board.from_dict(doc))
    return json_response({"board": board.to_dict()}, 201)


async def quarantine_endpoint(request: Request) -> Response:
    require_admin(request)
    service = service_of(request)
    board = await service.boards.require(request.query_params.get("board", ""))
    limit, after = stream_page_args(request)
    rows = await service.store.quarantined(board, limit, after)
    return json_response({"board": board.id, "next": rows[-1].id if len(rows) == limit else None, "entries": [
        {"id": r.id, "player": r.player, "score": r.score, "achieved_at": r.achieved_at_ms,
         "event_id": r.event_id, "reason": r.reason, **r.detail} for r in rows
    ]})


async def replication_endpoint(request: Request) -> Response:
    """Pause or resume shipping to the global tier (an operator cutting or healing the link)."""
    require_admin(request)
    replication = service_of(request).replication
    if replication is None:
        raise BadUserInput("this region does not replicate (no global.url configured)")
    shipper = replication.shipper
    action = request.path_params["action"]
    if action == "pause":
        shipper.pause()
    elif action == "resume":
        shipper.resume()
    elif action == "repair":
        report = await replication.anti_entropy.repair_once()
        return json_response({"boards_checked": report.boards_checked, "buckets_repaired": report.buckets_repaired,
                              "players_reannounced": report.players_reannounced})
    elif action != "status":
        raise BadUserInput("action must be pause, resume, repair or status")
    stats = shipper.stats
    return json_response({"state": shipper.state.value, "paused": shipper.paused, "batches_sent": stats.batches_sent,
                          "changes_sent": stats.changes_sent, "failures": stats.failures,
                          "overflows": stats.overflows, "splits": stats.splits, "stuck": stats.stuck,
                          "lag_ms": stats.lag_ms})


async def metrics(request: Request) -> Response:
    return metrics_response(service_of(request).telemetry)


async def readyz(request: Request) -> Response:
    service = service_of(request)
    backlog = service.history_backlog   # the history backlog's length and age, wherever the writer runs
    return readiness(await service.store.ping(), service.supervisor, service.breakers,   # the adapter's probe
                     {"history_backlog": backlog.report()} if backlog is not None else None)

"""REST for admins: webhook endpoints, dead letters (list, replay) and notification rules."""

from __future__ import annotations

from typing import Any

import orjson
from podium.region.api.http import require_admin
from podium.region.notifications.wiring import Notifications
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from podium.errors import BadUserInput
from podium.http import json_response, read_body
from podium.notify_delivery import endpoint_status
from podium.notify_rules import parse_rule
from podium.notify_webhooks import parse_endpoint


def _admin(request: Request) -> Notifications:
    require_admin(request)      # admin key or admin JWT; names the admin for the audit log
    runtime: Notifications | None = getattr(request.app.state, "notifications", None)
    if runtime is None:
        raise BadUserInput("notifications are disabled in this region (notifications.enabled=false)")
    return runtime


async def _json(request: Request, runtime: Notifications) -> Any:
    body = await read_body(request, runtime.settings.notifications.body_bytes_max)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadUserInput(f"malformed JSON: {exc}") from exc


async def webhooks(request: Request) -> Response:
    """GET: the endpoints (without secrets). POST: register or replace one."""
    runtime = _admin(request)
    if request.method == "GET":
        return json_response({"webhooks": [e.public() for e in await runtime.webhooks.endpoints()]})
    endpoint = parse_endpoint(await _json(request, runtime))
    await runtime.webhooks.put_endpoint(endpoint)
    return json_response({"webhook": endpoint.public()}, 201)


async def webhook_status(request: Request) -> Response:
    """Each endpoint (without its secret) with its queue length and this process's delivery counts."""
    runtime = _admin(request)
    now = runtime.clock.now_ms()
    rows = [endpoint_status(runtime.worker, e, await runtime.webhooks.queued(e.id), now)
            for e in await runtime.webhooks.endpoints()]
    return json_response({"webhooks": rows, "totals": {
        "routed": runtime.worker.counters.routed, "delivered": runtime.worker.counters.delivered,
        "failed_attempts": runtime.worker.counters.failed_attempts,
        "dead_lettered": runtime.worker.counters.dead_lettered}})


async def webhook(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.webhooks.delete_endpoint(request.path_params["id"])
    return json_response({"deleted": request.path_params["id"]})


async def dead_letters(request: Request) -> Response:
    """Dead-lettered deliveries, oldest first; `after` pages on with the last id seen."""
    runtime = _admin(request)
    limit = runtime.settings.notifications.dead_letters_page_max
    raw = request.query_params.get("first", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}", field="first")
    after = request.query_params.get("after")
    return json_response({"dead_letters": await runtime.webhooks.dead_letters(int(raw), after)})


async def replay(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.webhooks.replay(request.path_params["id"], runtime.clock.now_ms())
    return json_response({"replayed": request.path_params["id"]})


async def rules(request: Request) -> Response:
    runtime = _admin(request)
    if request.method == "GET":
        engine = runtime.engine
        counters = {"published": engine.published, "waiting": len(engine.unpublished), "suppressed": engine.suppressed,
                    "coalesced": engine.coalesced, "publish_failures": engine.publish_failures}
        return json_response({"rules": [{**r.to_dict(), "live": engine.is_live(r)} for r in await runtime.rules.all()],
                              "engine": counters})
    s = runtime.settings.notifications
    rule = parse_rule(await _json(request, runtime), s.top_n_max, s.window_ms_max)
    await runtime.rules.put(rule)
    return json_response({"rule": rule.to_dict()}, 201)


async def rule(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.rules.delete(request.path_params["board"], request.path_params["id"])
    return json_response({"deleted": request.path_params["id"]})


def notification_routes() -> list[Route]:
    return [
        Route("/v1/admin/webhooks", webhooks, methods=["GET", "POST"]),
        Route("/v1/admin/webhooks/status", webhook_status, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters", dead_letters, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters/{id}/replay", replay, methods=["POST"]),
        Route("/v1/admin/webhooks/{id}", webhook, methods=["DELETE"]),
        Route("/v1/admin/notification-rules", rules, methods=["GET", "POST"]),
        Route("/v1/admin/notification-rules/{board}/{id}", rule, methods=["DELETE"]),
    ]

"""REST for admins on the global tier: notification rules on global ranks, webhook endpoints, their
status and dead letters (list, replay). The same routes and bodies as a region's."""

from __future__ import annotations

from typing import Any

import orjson
from podium.global_.notifications import parse_global_rule
from podium.global_.notifications_wiring import GlobalNotifications
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from podium.errors import BadUserInput
from podium.http import check_admin, json_response, read_body
from podium.notify_delivery import endpoint_status
from podium.notify_webhooks import parse_endpoint


def runtime_of(app_state: Any) -> GlobalNotifications:
    runtime: GlobalNotifications | None = getattr(app_state, "notifications", None)
    if runtime is None:
        raise BadUserInput("notifications are disabled on this global tier (notifications.enabled=false)")
    return runtime


def _admin(request: Request) -> GlobalNotifications:
    runtime = runtime_of(request.app.state)
    check_admin(request.headers, runtime.settings.admin_keys)
    return runtime


async def _json(request: Request, runtime: GlobalNotifications) -> Any:
    body = await read_body(request, runtime.settings.notifications.body_bytes_max)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadUserInput(f"malformed JSON: {exc}") from exc


async def rules(request: Request) -> Response:
    runtime = _admin(request)
    if request.method == "GET":
        engine = runtime.engine
        return json_response({"rules": [{**r.to_dict(), "live": engine.is_live(r)} for r in await runtime.rules.all()],
                              "engine": engine.counters()})
    rule = parse_global_rule(await _json(request, runtime), runtime.settings)
    await runtime.rules.put(rule)
    return json_response({"rule": rule.to_dict()}, 201)


async def rule(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.rules.delete(request.path_params["board"], request.path_params["id"])
    return json_response({"deleted": request.path_params["id"]})


async def webhooks(request: Request) -> Response:
    runtime = _admin(request)
    if request.method == "GET":
        return json_response({"webhooks": [e.public() for e in await runtime.webhooks.endpoints()]})
    endpoint = parse_endpoint(await _json(request, runtime))
    await runtime.webhooks.put_endpoint(endpoint)
    return json_response({"webhook": endpoint.public()}, 201)


async def webhook_status(request: Request) -> Response:
    runtime = _admin(request)
    now, c = runtime.clock.now_ms(), runtime.worker.counters
    rows = [endpoint_status(runtime.worker, e, await runtime.webhooks.queued(e.id), now)
            for e in await runtime.webhooks.endpoints()]
    return json_response({"webhooks": rows, "totals": {"routed": c.routed, "delivered": c.delivered,
                                                        "failed_attempts": c.failed_attempts,
                                                        "dead_lettered": c.dead_lettered}})


async def webhook(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.webhooks.delete_endpoint(request.path_params["id"])
    return json_response({"deleted": request.path_params["id"]})


async def dead_letters(request: Request) -> Response:
    runtime = _admin(request)
    limit = runtime.settings.notifications.dead_letters_page_max
    raw = request.query_params.get("first", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}", field="first")
    return json_response({"dead_letters": await runtime.webhooks.dead_letters(int(raw), request.query_params.get("after"))})


async def replay(request: Request) -> Response:
    runtime = _admin(request)
    await runtime.webhooks.replay(request.path_params["id"], runtime.clock.now_ms())
    return json_response({"replayed": request.path_params["id"]})


def global_notification_routes() -> list[Route]:
    return [
        Route("/v1/admin/webhooks", webhooks, methods=["GET", "POST"]),
        Route("/v1/admin/webhooks/status", webhook_status, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters", dead_letters, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters/{id}/replay", replay, methods=["POST"]),
        Route("/v1/admin/webhooks/{id}", webhook, methods=["DELETE"]),
        Route("/v1/admin/notification-rules", rules, methods=["GET", "POST"]),
        Route("/v1/admin/notification-rules/{board}/{id}", rule, methods=["DELETE"]),
    ]

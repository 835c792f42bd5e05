"""REST for admins, the same routes and bodies on every tier: notification rules, webhook endpoints,
their status and dead letters (list, replay). A tier passes how a request finds its notifications
runtime (checking the admin on the way) and how it validates a rule (a region's and the global
tier's rules differ: podium.global_.notifications.parse_global_rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from podium.clock import Clock
from podium.config import Settings
from podium.errors import BadUserInput
from podium.http import json_response, read_json
from podium.notify_delivery import DeliveryWorker, endpoint_status
from podium.notify_rules import Rule
from podium.notify_rules_redis import RedisRules
from podium.notify_webhooks import parse_endpoint
from podium.notify_webhooks_redis import RedisWebhooks


class RuleEngine(Protocol):
    def is_live(self, rule: Rule) -> bool: ...
    def counters(self) -> dict[str, int]: ...


class AdminRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def rules(self) -> RedisRules: ...
    @property
    def webhooks(self) -> RedisWebhooks: ...
    @property
    def worker(self) -> DeliveryWorker: ...
    @property
    def engine(self) -> RuleEngine: ...


RuntimeOf = Callable[[Request], AdminRuntime]     # checks the admin, then finds the runtime (or refuses)
ParseRule = Callable[[object, Settings], Rule]


async def _json(request: Request, runtime: AdminRuntime) -> Any:
    return await read_json(request, runtime.settings.notifications.body_bytes_max)


def notification_admin_routes(runtime_of: RuntimeOf, parse_rule: ParseRule) -> list[Route]:
    async def webhooks(request: Request) -> Response:
        """GET: the endpoints (without secrets). POST: register or replace one."""
        runtime = runtime_of(request)
        if request.method == "GET":
            return json_response({"webhooks": [e.public() for e in await runtime.webhooks.endpoints()]})
        endpoint = parse_endpoint(await _json(request, runtime))
        await runtime.webhooks.put_endpoint(endpoint)
        return json_response({"webhook": endpoint.public()}, 201)

    async def webhook_status(request: Request) -> Response:
        """Each endpoint (without its secret) with its queue length and this process's delivery counts."""
        runtime = runtime_of(request)
        now, c = runtime.clock.now_ms(), runtime.worker.counters
        rows = [endpoint_status(runtime.worker, e, await runtime.webhooks.queued(e.id), now)
                for e in await runtime.webhooks.endpoints()]
        return json_response({"webhooks": rows, "totals": {"routed": c.routed, "delivered": c.delivered,
                                                            "failed_attempts": c.failed_attempts,
                                                            "dead_lettered": c.dead_lettered}})

    async def webhook(request: Request) -> Response:
        runtime = runtime_of(request)
        await runtime.webhooks.delete_endpoint(request.path_params["id"])
        return json_response({"deleted": request.path_params["id"]})

    async def dead_letters(request: Request) -> Response:
        """Dead-lettered deliveries, oldest first; `after` pages on with the last id seen."""
        runtime = runtime_of(request)
        limit = runtime.settings.notifications.dead_letters_page_max
        raw = request.query_params.get("first", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= limit:
            raise BadUserInput(f"first must be between 1 and {limit}", field="first")
        after = request.query_params.get("after")
        return json_response({"dead_letters": await runtime.webhooks.dead_letters(int(raw), after)})

    async def replay(request: Request) -> Response:
        runtime = runtime_of(request)
        await runtime.webhooks.replay(request.path_params["id"], runtime.clock.now_ms())
        return json_response({"replayed": request.path_params["id"]})

    async def rules(request: Request) -> Response:
        runtime = runtime_of(request)
        if request.method == "GET":
            engine = runtime.engine
            return json_response({"rules": [{**r.to_dict(), "live": engine.is_live(r)} for r in await runtime.rules.all()],
                                  "engine": engine.counters()})
        rule = parse_rule(await _json(request, runtime), runtime.settings)
        await runtime.rules.put(rule)
        return json_response({"rule": rule.to_dict()}, 201)

    async def rule(request: Request) -> Response:
        runtime = runtime_of(request)
        await runtime.rules.delete(request.path_params["board"], request.path_params["id"])
        return json_response({"deleted": request.path_params["id"]})

    return [
        Route("/v1/admin/webhooks", webhooks, methods=["GET", "POST"]),
        Route("/v1/admin/webhooks/status", webhook_status, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters", dead_letters, methods=["GET"]),
        Route("/v1/admin/webhooks/dead-letters/{id}/replay", replay, methods=["POST"]),
        Route("/v1/admin/webhooks/{id}", webhook, methods=["DELETE"]),
        Route("/v1/admin/notification-rules", rules, methods=["GET", "POST"]),
        Route("/v1/admin/notification-rules/{board}/{id}", rule, methods=["DELETE"]),
    ]

"""REST for admins in a region: webhook endpoints, dead letters (list, replay) and notification
rules, with the routes every tier shares (podium.notify_http)."""

from __future__ import annotations

from podium.region.api.http import require_admin
from podium.region.notifications.wiring import Notifications
from starlette.requests import Request
from starlette.routing import Route

from podium.config import Settings
from podium.errors import BadUserInput
from podium.notify_http import notification_admin_routes
from podium.notify_rules import Rule, parse_rule


def _admin(request: Request) -> Notifications:
    require_admin(request)      # admin key or admin JWT; names the admin for the audit log
    runtime: Notifications | None = getattr(request.app.state, "notifications", None)
    if runtime is None:
        raise BadUserInput("notifications are disabled in this region (notifications.enabled=false)")
    return runtime


def _parse_rule(raw: object, settings: Settings) -> Rule:
    return parse_rule(raw, settings.notifications.top_n_max, settings.notifications.window_ms_max)


def notification_routes() -> list[Route]:
    return notification_admin_routes(_admin, _parse_rule)

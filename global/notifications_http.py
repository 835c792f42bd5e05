"""REST for admins on the global tier: notification rules on global ranks, webhook endpoints, their
status and dead letters (list, replay); the routes every tier shares (podium.notify_http)."""

from __future__ import annotations

from typing import Any

from podium.global_.notifications import parse_global_rule
from podium.global_.notifications_wiring import GlobalNotifications
from starlette.requests import Request
from starlette.routing import Route

from podium.errors import BadUserInput
from podium.http import check_admin
from podium.notify_http import notification_admin_routes


def runtime_of(app_state: Any) -> GlobalNotifications:
    runtime: GlobalNotifications | None = getattr(app_state, "notifications", None)
    if runtime is None:
        raise BadUserInput("notifications are disabled on this global tier (notifications.enabled=false)")
    return runtime


def _admin(request: Request) -> GlobalNotifications:
    runtime = runtime_of(request.app.state)
    check_admin(request.headers, runtime.settings.admin_keys)
    return runtime


def global_notification_routes() -> list[Route]:
    return notification_admin_routes(_admin, parse_global_rule)

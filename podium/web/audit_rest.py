"""Records successful admin POSTs and DELETEs to the REST routes (`/v1/admin/...`) in the audit log; the
admin's name is what `require_admin` left in the request state."""

from __future__ import annotations

import logging
from typing import Any

from podium.errors import Unavailable
from podium.web.audit import AuditLog, AuditRecord

logger = logging.getLogger("podium.audit")

ADMIN_PREFIX = "/v1/admin/"
AUDITED_METHODS = ("POST", "DELETE")    # the writes; GETs change nothing


class AuditRestMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in AUDITED_METHODS or not scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        name = scope.get("state", {}).get("admin_name")
        service = getattr(scope["app"].state, "service", None)
        if 200 <= status < 300 and name and service is not None:
            log = AuditLog(service.redis, service.settings.api.audit_log_len_max)
            action = f"{scope['method']} {scope['path']}"
            query = scope.get("query_string", b"").decode(errors="replace")
            try:
                await log.record(AuditRecord(service.clock.now_ms(), name, action, {"query": query} if query else {}))
            except Unavailable:
                # the response is already sent; the action is done
                logger.warning("audit log unavailable: %s by %s not recorded", action, name)

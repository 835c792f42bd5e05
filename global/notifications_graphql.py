"""GraphQL for admins on the global tier: declare, list and remove notification rules on global
ranks (the same input and validation as a region's, plus the global tier's own limits)."""

from __future__ import annotations

from typing import Any

import strawberry
from podium.global_.notifications import parse_global_rule
from podium.global_.notifications_http import runtime_of
from strawberry.types import Info

from podium.gql import typed
from podium.gql.auth import require_admin
from podium.gql.notification_rules import NotificationRuleInput, NotificationRuleType


@strawberry.type
class GlobalNotificationQueries:
    @typed.field(description="Notification rules evaluated on global ranks (admin).")
    async def notification_rules(self, info: Info[Any, Any]) -> list[NotificationRuleType]:
        await require_admin(info)
        runtime = runtime_of(info.context["request"].app.state)
        return [NotificationRuleType.from_rule(r) for r in await runtime.rules.all()]


@strawberry.type
class GlobalNotificationMutations:
    @typed.mutation(description="Declare (or replace) a notification rule on a global board (admin): overtaken, "
                                "entered_top_n, left_top_n or threshold, evaluated on the merged ranks.")
    async def declare_notification_rule(self, info: Info[Any, Any], rule: NotificationRuleInput) -> NotificationRuleType:
        await require_admin(info)
        runtime = runtime_of(info.context["request"].app.state)
        parsed = parse_global_rule(dict(vars(rule)), runtime.settings)
        await runtime.rules.put(parsed)
        return NotificationRuleType.from_rule(parsed)

    @typed.mutation(description="Remove a notification rule from a global board (admin). Returns its id.")
    async def remove_notification_rule(self, info: Info[Any, Any], board: str, id: str) -> str:
        await require_admin(info)
        await runtime_of(info.context["request"].app.state).rules.delete(board, id)
        return id

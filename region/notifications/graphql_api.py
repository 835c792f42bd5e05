"""GraphQL for notifications: a player reads and marks their own inbox (player JWT; an admin key
may name any player) and follows it live; admins declare rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from podium.region.notifications.wiring import Notifications
from strawberry.types import Info

from podium.errors import BadUserInput, Forbidden, Unauthenticated
from podium.gql import typed
from podium.gql.auth import caller
from podium.gql.errors import as_graphql_errors
from podium.gql.notification_rules import NotificationRuleInput, NotificationRuleType
from podium.gql.scalars import Long
from podium.notify_rules import Notification, RuleKind, parse_rule

MARK_IDS_MAX = 500


def runtime_of(info: Info[Any, Any]) -> Notifications:
    runtime: Notifications | None = getattr(info.context["request"].app.state, "notifications", None)
    if runtime is None:
        raise BadUserInput("notifications are disabled in this region (notifications.enabled=false)")
    return runtime


async def _player(info: Info[Any, Any], player: str | None) -> str:
    """The caller's own inbox; an admin names the player."""
    who = await caller(info)
    if who.admin:
        if player is None:
            raise BadUserInput("an admin reading an inbox names the player")
        return player
    if who.player is None:
        raise Unauthenticated("notifications need a player token: 'Authorization: Bearer <JWT>'")
    if player is not None and player != who.player:
        raise Forbidden("a player token only gives access to that player's own notifications")
    return str(who.player)


@strawberry.type(name="Notification", description="Something that happened to the player on a board.")
class NotificationType:
    id: str = strawberry.field(description="Stable per event (the webhook idempotency id).")
    kind: str = strawberry.field(description="overtaken, entered_top_n, left_top_n, threshold, quarantined, board_ending, board_ended or contest_locking")
    rule: str
    board: str
    player: str
    at_ms: Long
    rank: int | None
    previous_rank: int | None
    score: Long | None
    by: list[str] = strawberry.field(description="overtaken: who passed (the first few)")
    count: int = strawberry.field(description="overtaken: how many passes this notification stands for")
    read: bool

    @classmethod
    def from_note(cls, n: Notification, read: bool) -> NotificationType:
        return cls(id=n.id, kind=str(n.kind), rule=n.rule, board=n.board, player=n.player, at_ms=Long(n.at_ms),
                   rank=n.rank, previous_rank=n.previous_rank, score=None if n.score is None else Long(n.score), by=list(n.by), count=n.count,
                   read=read)


@strawberry.type
class NotificationEdge:
    cursor: str
    node: NotificationType


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    has_next_page: bool
    end_cursor: str | None
    unread_count: int


@strawberry.type
class NotificationQueries:
    @typed.field(description="The caller's notifications, newest first (player JWT). `after`: an endCursor.")
    async def notifications(self, info: Info[Any, Any], first: int = 20, after: str | None = None,
                            unread_only: bool = False, player: str | None = None) -> NotificationConnection:
        runtime = runtime_of(info)
        page_max = runtime.settings.notifications.page_max
        if not 1 <= first <= page_max:
            raise BadUserInput(f"first must be between 1 and {page_max}")
        page = await runtime.inbox.page(await _player(info, player), first, after, unread_only)
        edges = [NotificationEdge(cursor=i.cursor, node=NotificationType.from_note(i.notification, i.read))
                 for i in page.items]
        return NotificationConnection(edges=edges, has_next_page=page.has_next,
                                      end_cursor=edges[-1].cursor if edges else None, unread_count=page.unread)

    @typed.field(description="How many of the caller's notifications are unread.")
    async def unread_notifications(self, info: Info[Any, Any], player: str | None = None) -> int:
        return int(await runtime_of(info).inbox.unread(await _player(info, player)))

    @typed.field(description="Declared notification rules (admin).")
    async def notification_rules(self, info: Info[Any, Any]) -> list[NotificationRuleType]:
        if not (await caller(info)).admin:
            raise Forbidden("notification rules are for admins")
        return [NotificationRuleType.from_rule(r) for r in await runtime_of(info).rules.all()]


@strawberry.type
class NotificationMutations:
    @typed.mutation(description="Mark notifications read: the given ids, or all when `ids` is omitted. "
                                     "Returns the unread count after.")
    async def mark_notifications_read(self, info: Info[Any, Any], ids: list[str] | None = None,
                                      player: str | None = None) -> int:
        if ids is not None and len(ids) > MARK_IDS_MAX:
            raise BadUserInput(f"at most {MARK_IDS_MAX} ids at a time")
        return int(await runtime_of(info).inbox.mark_read(await _player(info, player), ids))

    @typed.mutation(description="Declare (or replace) a notification rule on a board (admin).")
    async def declare_notification_rule(self, info: Info[Any, Any], rule: NotificationRuleInput) -> NotificationRuleType:
        if not (await caller(info)).admin:
            raise Forbidden("declaring notification rules needs an admin key")
        runtime = runtime_of(info)
        s = runtime.settings.notifications
        parsed = parse_rule(dict(vars(rule)), s.top_n_max, s.window_ms_max)
        await runtime.rules.put(parsed)
        return NotificationRuleType.from_rule(parsed)


@strawberry.type
class NotificationSubscriptions:
    @typed.subscription(description="The caller's new notifications as they arrive (player JWT); checked "
                                         "every notifications.live_poll_ms.")
    async def notification_received(self, info: Info[Any, Any],
                                    player: str | None = None) -> AsyncGenerator[NotificationType, None]:
        with as_graphql_errors():
            runtime = runtime_of(info)
            who = await _player(info, player)
            cursor = await runtime.inbox.newest(who)
            poll_s = runtime.settings.notifications.live_poll_ms / 1000
            while True:
                for cursor_new, note in await runtime.inbox.since(who, cursor, runtime.settings.notifications.page_max):
                    cursor = cursor_new
                    yield NotificationType.from_note(note, False)
                await asyncio.sleep(poll_s)


__all__ = ["NotificationMutations", "NotificationQueries", "NotificationSubscriptions", "RuleKind"]

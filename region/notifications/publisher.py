"""Where evaluated notifications are stored: the player inboxes first (the warm store, the record
that survives a Redis loss), then the outbox that feeds webhook delivery.

A failure anywhere raises and the engine publishes the same batch again: the inbox keeps each
(player, id) once, and webhook receivers dedupe by id, so a retry after a partial write repeats
nothing a player sees twice. The inbox comes first so that no webhook announces a notification
the player's inbox does not hold.

With `write_inbox=False` (`notifications.inbox_writer=drain`) the publisher writes the outbox only,
and `inbox_drain_redis.InboxDrain` copies the outbox into the inboxes, off the engine's path."""

from __future__ import annotations

from collections.abc import Sequence

from podium.region.notifications.inbox import InboxStore
from podium.region.notifications.outbox_redis import RedisOutbox

from podium.notify_rules import Notification


class InboxPublisher:
    def __init__(self, inbox: InboxStore, outbox: RedisOutbox, write_inbox: bool = True) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.write_inbox = write_inbox

    async def publish(self, notes: Sequence[Notification]) -> None:
        if self.write_inbox:
            await self.inbox.append(notes)
        await self.outbox.add(notes)

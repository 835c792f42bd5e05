"""The player-inbox port: a player's notifications, newest first, with an unread subset and count.

Adapters, one per file: `inbox_sqlite` (the embedded warm store, the default), `inbox_cassandra`
(the production warm store) and `inbox_redis` (only when the warm store is disabled,
history.enabled=false: it does not survive a Redis loss). Every adapter:
- keeps a notification once per (player, id): a notification written again (a retried write, a
  re-evaluated tick) changes nothing, and a read one stays read;
- keeps the newest `inbox_len_max` per player (the oldest are dropped);
- orders a player's inbox newest first, and answers `since` oldest first (the live subscription).
Cursors are opaque strings an adapter gives out and reads back; a forged one is `BadUserInput`.
The warm adapters order by (at_ms, id), the notification's own key, so a write is an idempotent
upsert that needs no counter.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from podium.errors import BadUserInput
from podium.notify_rules import Notification

TIME_MAX_MS = 2**62          # above every at_ms: "from the newest"
CURSOR_CHARS_MAX = 1024      # a cursor longer than this is not one of ours


@dataclass(frozen=True, slots=True)
class InboxItem:
    notification: Notification
    cursor: str
    read: bool


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[InboxItem]
    has_next: bool
    unread: int


class InboxStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, notes: Sequence[Notification]) -> None:
        """Stores `notes` in their players' inboxes, unread; idempotent per (player, id)."""
        ...

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        """At most `first` notifications older than the cursor `after` (None: from the newest)."""
        ...

    async def unread(self, player: str) -> int: ...

    async def mark_read(self, player: str, ids: Sequence[str] | None) -> int:
        """Marks the given ids (all when None) read; the unread count after."""
        ...

    async def newest(self, player: str) -> str | None:
        """The cursor of the player's newest notification (None: an empty inbox)."""
        ...

    async def since(self, player: str, after: str | None, count_max: int) -> list[tuple[str, Notification]]:
        """Notifications newer than the cursor `after` (None: all), oldest first, with their cursors."""
        ...


def encode_key_cursor(at_ms: int, note_id: str) -> str:
    """A warm adapter's cursor: the notification's key (at_ms, id)."""
    return base64.urlsafe_b64encode(f"t:{at_ms}:{note_id}".encode()).decode()


def decode_key_cursor(cursor: str) -> tuple[int, str]:
    try:
        if len(cursor) > CURSOR_CHARS_MAX:
            raise ValueError("too long")
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
        kind, at_ms, note_id = text.split(":", 2)
        if kind != "t" or not at_ms.isdigit() or len(at_ms) > 18:
            raise ValueError(text)
        return int(at_ms), note_id
    except (ValueError, UnicodeError) as exc:
        raise BadUserInput("after is not a notifications cursor from this API", field="after") from exc

"""The ChangeFeed port: what the replication loops of a region (shipper, anti-entropy) need from its
store, and nothing more. A board's change feed is its change stream (ids `<ms>-<n>`, appended
atomically with the scores by the apply script); the acknowledged position of each feed is kept in
the store so a restarted region resumes where the global tier last answered. The one adapter is
`change_feed_redis.RedisChangeFeed`; every adapter raises `podium.errors.Unavailable` when its store
cannot be reached, never a driver's exception."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple, Protocol

from podium.model import Board


class FeedRow(NamedTuple):
    """One change-stream entry: its id, its packed change lines, and the W3C traceparent of the
    write that made it ("" untraced; podium/trace_context.py)."""

    id: str
    data: str
    traceparent: str = ""


class ChangeFeed(Protocol):
    async def boards(self) -> list[Board]:
        """Every board this region replicates."""
        ...

    async def acked(self) -> dict[str, str]:
        """Board id -> id of the last entry the global tier acknowledged ("0-0": none)."""
        ...

    async def ack(self, board: Board, entry_id: str) -> None: ...

    async def read(self, board: Board, after: str, count: int) -> list[FeedRow]:
        """Up to `count` entries after `after`, in order."""
        ...

    async def head(self, board: Board) -> str | None:
        """The newest entry id (None: the feed is empty)."""
        ...

    async def first(self, board: Board) -> str | None:
        """The oldest entry still kept (older ones were trimmed by the length cap)."""
        ...

    def entries(self, board: Board) -> AsyncIterator[tuple[str, int, int]]:
        """The board's current entries (player, score, achieved_at_ms), read in bounded chunks."""
        ...

    async def reannounce(self, board: Board, players: Sequence[str]) -> None:
        """Append the current value of each player to the feed again (anti-entropy repair)."""
        ...

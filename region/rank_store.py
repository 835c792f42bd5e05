"""The RankStore port: exact ranks of one region's boards. One adapter: Redis (`rank_store_redis`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from podium.model import Board, RankCursor, RankedEntry, ScoreEntry


class ApplyCode(StrEnum):
    APPLIED = "a"
    UNCHANGED = "u"
    DUPLICATE = "d"
    QUARANTINED = "q"
    OVERFLOW = "o"
    BANNED = "b"


# Not frozen: one is made per applied entry, and a frozen dataclass's __init__ (object.__setattr__
# per field) cost 6x a plain one on the ingest path. Nothing mutates an outcome.
@dataclass(slots=True)
class ApplyOutcome:
    code: ApplyCode
    rank: int | None
    score: int | None
    version: str | None = None    # change-stream id of the write, for applied entries


@dataclass(frozen=True, slots=True)
class QuarantinedEntry:
    id: str
    player: str
    score: int
    achieved_at_ms: int
    event_id: str
    reason: str
    detail: dict[str, str]


class ApplyReply(Protocol):
    """An apply's outcomes as the store answered them, read in bulk (the ingest path builds its
    results from these columns instead of an `ApplyOutcome` per entry)."""

    version: str | None   # the change-stream id of the applied entries (None: nothing applied)

    def columns(self) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
        """(codes, ranks, scores), one item per entry: an `ApplyCode` value (str or bytes), the
        rank (0: none), the score's digits (empty: none)."""
        ...


class RankStore(Protocol):
    async def apply_reply(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int) -> ApplyReply:
        """`apply` without an offset, its outcomes left as columns."""
        ...

    async def apply(
        self,
        board: Board,
        entries: Sequence[ScoreEntry],
        now_ms: int,
        *,
        partition: str | None = None,
        offset: int | None = None,
    ) -> list[ApplyOutcome] | None:
        """Apply entries of one board atomically; None when `offset` was applied already."""
        ...

    async def range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        """Entries from 0-based position `start`."""
        ...

    async def after(self, board: Board, cursor: RankCursor, count: int) -> list[RankedEntry]: ...

    async def players(self, board: Board, players: Sequence[str]) -> list[RankedEntry | None]: ...

    async def around(self, board: Board, player: str, above: int, below: int) -> list[RankedEntry]: ...

    async def count(self, board: Board) -> int: ...

    async def load(self, board: Board, entries: Iterable[tuple[str, int, int]]) -> int:
        """Bulk-load (player, score, achieved_at_ms) rows, bypassing operators: rebuilds, benchmarks."""
        ...

    async def replace(self, board: Board, entries: AsyncIterable[tuple[str, int, int]] | Iterable[tuple[str, int, int]]) -> int:
        """Replace the board's standings with exactly these (player, score, achieved_at_ms) rows,
        bypassing operators (rebuilds, restores). Built aside and swapped in atomically: readers see
        the old board or the new one, never part of each. Each player at most once."""
        ...

    async def remove_player(self, board: Board, player: str) -> bool: ...

    async def ban(self, board: Board, player: str) -> None: ...

    async def clear(self, board: Board) -> None: ...

    async def quarantined(self, board: Board, count: int, before: str | None = None) -> list[QuarantinedEntry]:
        """Newest first; strictly older than the entry id `before` (a stream id, unique) when given."""
        ...

    async def quarantined_entry(self, board: Board, entry_id: str) -> QuarantinedEntry | None: ...

    async def drop_quarantined(self, board: Board, entry_id: str) -> None: ...

    async def unban(self, board: Board, player: str) -> bool: ...

    async def version(self, board: Board) -> str:
        """An opaque token that changes whenever the board's contents change."""
        ...

    async def ping(self) -> bool: ...


async def read_all(store: RankStore, board: Board, chunk_entries: int = 10_000) -> list[RankedEntry]:
    """A board's full standings in rank order, read in bounded chunks (snapshots, archives)."""
    entries: list[RankedEntry] = []
    while chunk := await store.range(board, len(entries), chunk_entries):
        entries += chunk
        if len(chunk) < chunk_entries:
            break
    return entries

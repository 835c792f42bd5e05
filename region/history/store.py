"""The warm-store port: score history, board snapshots and rank history, plus the pure rule that
derives a player's current standing from their history (used to rebuild a Redis board exactly).

Adapters: `history_sqlite.SqliteHistoryStore` (embedded default), `history_cassandra` (production).
Every write is keyed by an event id (history) or a snapshot time (snapshots), so replaying the same
writes after a crash changes nothing.

Score history is kept per season: rows are stored under `history_key(board, season)` ("arena@3"),
so a season reset starts a new history (as it starts a new Redis key) and a rebuild reads exactly
the live season. Snapshots and rank history are keyed by the plain board id (a snapshot carries
its season). Board definitions are kept too, so a region that lost Redis knows its boards again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from podium.invariant import invariant
from podium.model import Board, Operator, RankedEntry, SortOrder
from podium.ranking import is_better

# Snapshot rows are grouped into rank buckets of this many ranks: one Cassandra partition per bucket
# keeps partitions at ~1000 rows (~50 KB) however large the board.
RANK_BUCKET_SIZE = 1000
# Separates a board id from its season in a history key; board ids never contain it (BOARD_ID_RE).
SEASON_SEPARATOR = "@"


def history_key(board_id: str, season: int) -> str:
    """Where one season of a board's score history lives ("arena@3")."""
    invariant(SEASON_SEPARATOR not in board_id and season >= 0, "history key of a valid board and season")
    return f"{board_id}{SEASON_SEPARATOR}{season}"


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One accepted score event as the history keeps it (`score` is the submitted amount)."""

    board: str
    player: str
    event_id: str
    score: int
    achieved_at_ms: int


# One stored score of a player as a rebuild reads it, without a ScoreRow per row: (achieved_at_ms,
# event_id, score). A rebuild reads every row of a board; the objects were a large part of its CPU.
HistoryRow = tuple[int, str, int]
# A player and all their rows, in the store's order (newest first).
PlayerHistory = tuple[str, list[HistoryRow]]


@dataclass(frozen=True, slots=True)
class Standing:
    player: str
    score: int
    achieved_at_ms: int


@dataclass(frozen=True, slots=True)
class RankPoint:
    taken_at_ms: int
    rank: int
    score: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A board's full standings at `taken_at_ms` (ranks 1..n in the tie-rule order)."""

    board: str
    season: int
    taken_at_ms: int
    entries: tuple[RankedEntry, ...]

    def __post_init__(self) -> None:
        invariant(all(e.rank == i for i, e in enumerate(self.entries, 1)), "snapshot ranks must be 1..n")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One row of a board's snapshot index."""

    taken_at_ms: int
    season: int
    entries: int


class HistoryStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        """Idempotent: a row whose (board, player, event_id) is stored already changes nothing."""
        ...

    async def score_history(self, board: str, player: str, limit: int, *,
                            since_ms: int | None = None, until_ms: int | None = None,
                            before: tuple[int, str] | None = None) -> list[ScoreRow]:
        """Newest first (achievement time descending, then event id descending), achieved in
        [since_ms, until_ms) when given, and strictly after the key `before` (achieved_at_ms,
        event_id) in that order: a unique key, so a page boundary inside a run of equal times
        loses nothing."""
        ...

    async def has_scores(self, board: str) -> bool:
        """Whether any score of `board` (a history key) is stored."""
        ...

    def iter_player_history(self, board: str) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
        """Every player of a board once, with all their rows (in no particular order: SQLite gives
        player order, Cassandra token order)."""
        ...

    def iter_history_pages(self, board: str) -> AsyncIterator[list[PlayerHistory]]:
        """The same as `iter_player_history`, a page of players at a time and each row a plain
        tuple: what a rebuild reads (a page of complete players; a player is in one page only)."""
        ...

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        """Stores the standings and one rank-history point per player; idempotent per taken_at_ms."""
        ...

    async def snapshot_times(self, board: str, limit: int) -> list[int]:
        """The board's snapshot times, newest first."""
        ...

    async def snapshots(self, board: str, limit: int, *, before_ms: int | None = None) -> list[SnapshotInfo]:
        """The board's snapshot index, newest first (taken before `before_ms` when given)."""
        ...

    async def read_snapshot(self, board: str, taken_at_ms: int) -> Snapshot | None: ...

    async def snapshot_page(self, board: str, taken_at_ms: int, from_rank: int, to_rank: int) -> list[RankedEntry]:
        """Ranks from_rank..to_rank (inclusive, 1-based) of one snapshot, without reading all of it."""
        ...

    async def rank_history(self, board: str, player: str, limit: int, *,
                           since_ms: int | None = None, until_ms: int | None = None) -> list[RankPoint]:
        """Newest first, snapshots taken in [since_ms, until_ms) when given."""
        ...

    async def save_board(self, board: Board) -> None:
        """Stores (or replaces) a board definition, its season included."""
        ...

    async def drop_board(self, board_id: str) -> None: ...

    async def boards(self) -> list[Board]:
        """Every stored board definition, by id."""
        ...


def current_standing(board: Board, rows: Iterable[ScoreRow]) -> Standing | None:
    """A player's standing from their full history, per operator.

    best: the best score, the earliest time among equal scores (a tie keeps the first achiever).
    latest: the row with the latest time; equal times pick the larger score, as apply.lua does
    (equal time and score: the same standing whichever row is picked).
    increment/decrement: the sum (negated for decrement) of every amount, at the latest time.
    Summing is exact and needs no running total that a replay could corrupt: the event id in the
    key already makes every amount count once.
    """
    rows = list(rows)
    if not rows:
        return None
    player = rows[0].player
    invariant(all(r.player == player for r in rows), "rows of one player only")
    if board.operator is Operator.BEST:
        best = rows[0]
        for row in rows[1:]:
            if is_better(row.score, best.score, board.order) or (
                row.score == best.score and row.achieved_at_ms < best.achieved_at_ms
            ):
                best = row
        return Standing(player, best.score, best.achieved_at_ms)
    if board.operator is Operator.LATEST:
        last = max(rows, key=lambda r: (r.achieved_at_ms, r.score))
        return Standing(player, last.score, last.achieved_at_ms)
    total = sum(r.score for r in rows)
    sign = -1 if board.operator is Operator.DECREMENT else 1
    return Standing(player, sign * total, max(r.achieved_at_ms for r in rows))


async def player_pages(board: str, pages: AsyncIterator[list[PlayerHistory]]) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
    """`iter_player_history` from `iter_history_pages`: one player at a time, with ScoreRows."""
    async for page in pages:
        for player, rows in page:
            yield player, [ScoreRow(board, player, event_id, score, at) for at, event_id, score in rows]


async def iter_latest_entries(store: HistoryStore, board: Board) -> AsyncIterator[Standing]:
    """Each player's current standing on `board`, for rebuilding the Redis board from the warm store."""
    async for _player, rows in store.iter_player_history(board.id):
        standing = current_standing(board, rows)
        if standing is not None:
            yield standing


def rank_standings(standings: Iterable[Standing], order: SortOrder) -> list[RankedEntry]:
    """The tie rule of `podium.ranking`: better score, earlier time, smaller player id (bytes)."""
    from podium.ranking import sort_key

    ordered = sorted(standings, key=lambda s: sort_key(s.score, s.achieved_at_ms, s.player, order))
    return [RankedEntry(i, s.player, s.score, s.achieved_at_ms) for i, s in enumerate(ordered, 1)]

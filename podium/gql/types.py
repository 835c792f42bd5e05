"""Rank-bearing GraphQL types, each with a `from_…()` constructor from the domain model."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum

import orjson
import strawberry

from podium.errors import BadUserInput
from podium.gql.compiled_rows import EDGE, ENTRY, EntryRows
from podium.gql.scalars import Long
from podium.model import ACHIEVED_AT_MAX_MS, PLAYER_ID_RE, SCORE_ABS_MAX, RankCursor, RankedEntry
from podium.model import Board as BoardModel


@strawberry.enum(description="How exact a rank is: regional ranks are always EXACT.")
class Precision(Enum):
    EXACT = "EXACT"
    APPROXIMATE = "APPROXIMATE"
    ESTIMATED = "ESTIMATED"


@strawberry.enum(description="How fresh a global read must be.")
class Consistency(Enum):
    STRONG = "STRONG"      # merge the regions' live top lists at read time (top <= 100)
    SESSION = "SESSION"    # the caller's own writes (named by their session token) are included
    EVENTUAL = "EVENTUAL"  # the merged state as replicated: fastest


@strawberry.enum(description="Whether a board's ranks are live.")
class BoardStatus(Enum):
    LIVE = "LIVE"
    # Being rebuilt from the warm store (after a Redis loss): the entries are the board's last
    # snapshot of this season (stale: true), or none; no live rank is served until the rebuild ends.
    REBUILDING = "REBUILDING"


@strawberry.enum
class Operator(Enum):
    BEST = "best"
    LATEST = "latest"
    INCREMENT = "increment"
    DECREMENT = "decrement"


@strawberry.enum
class SortOrder(Enum):
    DESC = "desc"
    ASC = "asc"


@strawberry.enum
class Scope(Enum):
    REGION = "region"
    GLOBAL = "global"


@strawberry.type(description="A leaderboard and its rules.")
class Board:
    id: str
    operator: Operator
    order: SortOrder
    score_min: Long | None
    score_max: Long | None
    scope: Scope
    max_delta_per_minute: Long | None
    public_read: bool
    season: int
    cache_max_age: int = strawberry.field(description="Seconds HTTP caches may reuse top-N and page responses.")

    @classmethod
    def from_model(cls, b: BoardModel) -> Board:
        return cls(
            id=b.id, operator=Operator(b.operator.value), order=SortOrder(b.order.value),
            score_min=b.score_min, score_max=b.score_max, scope=Scope(b.scope.value),  # type: ignore[arg-type]
            max_delta_per_minute=b.max_delta_per_minute, public_read=b.public_read,  # type: ignore[arg-type]
            season=b.season, cache_max_age=b.cache_max_age_s,
        )


@functools.lru_cache(maxsize=256)
def as_of(now_ms: int) -> datetime:
    """Cached: every row of a page carries the same time (a datetime is immutable, so rows share it)."""
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC)


@strawberry.type(name="RankedEntry", description="One ranked entry. Ties rank by earlier achievement, then player id.")
class RankedEntryType:
    rank: int = strawberry.field(description="1-based ordinal position; no two entries share a rank.")
    player: str
    score: Long
    achieved_at: Long = strawberry.field(description="When the score was achieved, Unix milliseconds.")
    precision: Precision
    error_bound: int = strawberry.field(description="± ranks; 0 for EXACT.")
    as_of: datetime = strawberry.field(description="When this rank was computed.")

    @classmethod
    def from_entry(
        cls, e: RankedEntry, now_ms: int, precision: Precision = Precision.EXACT, error_bound: int = 0
    ) -> RankedEntryType:
        return cls(
            rank=e.rank, player=e.player, score=e.score, achieved_at=e.achieved_at_ms,  # type: ignore[arg-type]
            precision=precision, error_bound=error_bound, as_of=as_of(now_ms),
        )


# What `from_entry` (default precision) puts in each field, by Python name, read from the store's
# row or from the page's time alone: compiled plans encode a page's selected fields straight from
# its rows with these (tests/kernel/test_compiled_rows.py checks them against `from_entry`).
ENTRY_ROW_ATTRIBUTES: dict[str, str] = {   # field -> the RankedEntry attribute it holds as is
    "rank": "rank", "player": "player", "score": "score", "achieved_at": "achieved_at_ms",
}
ENTRY_PAGE_VALUES: dict[str, Callable[[int], object]] = {
    "precision": lambda now_ms: Precision.EXACT, "error_bound": lambda now_ms: 0, "as_of": as_of,
}


def entry_rows(rows: list[RankedEntry], now_ms: int) -> EntryRows:
    """`[RankedEntryType.from_entry(r, now_ms) for r in rows]`, built only if something iterates it."""
    return EntryRows(ENTRY, rows, now_ms, RankedEntryType.from_entry)


def _edge(row: RankedEntry, now_ms: int) -> LeaderboardEdge:
    return LeaderboardEdge(cursor=encode_cursor(row), node=RankedEntryType.from_entry(row, now_ms))


def encode_cursor(e: RankedEntry) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([e.score, e.achieved_at_ms, e.player])).decode()


CURSOR_CHARS_MAX = 256   # a real cursor is under 120 characters


def decode_cursor(cursor: str) -> RankCursor:
    """A cursor the server could have issued, else BAD_USER_INPUT: every part within the range a
    stored entry can hold (a forged score or time would otherwise reach the rank encoding)."""
    try:
        if len(cursor) > CURSOR_CHARS_MAX:
            raise ValueError
        score, ts, player = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (type(score) is int and type(ts) is int and isinstance(player, str)):
            raise ValueError
        if not (-SCORE_ABS_MAX <= score <= SCORE_ABS_MAX and 0 <= ts <= ACHIEVED_AT_MAX_MS
                and PLAYER_ID_RE.fullmatch(player)):
            raise ValueError
        return RankCursor(score, ts, player)
    except (ValueError, TypeError) as exc:   # binascii.Error, JSONDecodeError, UnicodeError are ValueErrors
        raise BadUserInput("invalid cursor") from exc


@strawberry.type
class LeaderboardEdge:
    cursor: str
    node: RankedEntryType


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of a leaderboard in rank order (Relay connection).")
class LeaderboardConnection:
    edges: list[LeaderboardEdge]
    page_info: PageInfo
    total_count: int
    as_of: datetime
    stale: bool = strawberry.field(default=False, description="True when a source could not be read live.")
    status: BoardStatus = strawberry.field(
        default=BoardStatus.LIVE,
        description="REBUILDING while the board is rebuilt from the warm store: the entries are then its "
                    "last snapshot (stale) or none, never partial live ranks.")

    @classmethod
    def from_entries(cls, rows: list[RankedEntry], total: int, now_ms: int, requested: int,
                     stale: bool = False, status: BoardStatus = BoardStatus.LIVE) -> LeaderboardConnection:
        last = rows[-1] if rows else None
        return cls(
            edges=EntryRows(EDGE, rows, now_ms, _edge),  # type: ignore[arg-type]   # a list, built if iterated
            page_info=PageInfo(
                has_next_page=bool(last) and last.rank < total and len(rows) >= requested,  # type: ignore[union-attr]
                end_cursor=encode_cursor(last) if last is not None else None,
            ),
            total_count=total,
            as_of=as_of(now_ms),
            stale=stale,
            status=status,
        )

"""History GraphQL types (score history, rank history, board snapshots), each with a `from_…()`
constructor from the warm store's rows."""

from __future__ import annotations

import base64

import orjson
import strawberry
from podium.region.history.store import RankPoint, ScoreRow, SnapshotInfo

from podium.errors import BadUserInput
from podium.gql.scalars import Long
from podium.gql.types import RankedEntryType
from podium.model import ACHIEVED_AT_MAX_MS, RankedEntry

HISTORY_CURSOR_CHARS_MAX = 1024


def encode_history_cursor(row: ScoreRow) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([row.achieved_at_ms, row.event_id])).decode()


def decode_history_cursor(cursor: str) -> tuple[int, str]:
    """(achieved_at_ms, event_id): the unique key of the last row seen, or BAD_USER_INPUT."""
    try:
        if len(cursor) > HISTORY_CURSOR_CHARS_MAX:
            raise ValueError
        ts, event_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if type(ts) is not int or not 0 <= ts <= ACHIEVED_AT_MAX_MS or not isinstance(event_id, str) or not event_id:
            raise ValueError
        return ts, event_id
    except (ValueError, TypeError) as exc:
        raise BadUserInput("invalid cursor") from exc


def encode_snapshot_cursor(kind: str, taken_at_ms: int) -> str:
    """A rank-history point's or a snapshot summary's cursor: its snapshot time, unique per board
    (and per player for rank history), tagged with the list it pages (`r` or `s`)."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, taken_at_ms])).decode()


def decode_snapshot_cursor(kind: str, cursor: str) -> int:
    """The snapshot time named by a cursor of the `kind` list, or BAD_USER_INPUT "invalid cursor"."""
    try:
        if len(cursor) > HISTORY_CURSOR_CHARS_MAX:
            raise ValueError
        tag, taken_at = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if tag != kind or type(taken_at) is not int or not 0 < taken_at <= ACHIEVED_AT_MAX_MS:
            raise ValueError
        return taken_at
    except (ValueError, TypeError) as exc:
        raise BadUserInput("invalid cursor") from exc


@strawberry.type(description="One accepted score of a player on a board (duplicates, quarantined and "
                             "rejected entries are never kept).")
class ScoreEvent:
    event_id: str
    score: Long = strawberry.field(description="The submitted score (on increment/decrement boards, the amount).")
    achieved_at: Long = strawberry.field(description="Unix milliseconds.")
    season: int
    cursor: str = strawberry.field(description="Pass as `after` for the next page: it names this row "
                                               "uniquely (time and event id), so equal times are never skipped.")

    @classmethod
    def from_row(cls, row: ScoreRow, season: int) -> ScoreEvent:
        return cls(event_id=row.event_id, score=Long(row.score), achieved_at=Long(row.achieved_at_ms),
                   season=season, cursor=encode_history_cursor(row))


@strawberry.type(name="RankPoint", description="A player's rank and score in one board snapshot.")
class RankPointType:
    taken_at: Long = strawberry.field(description="When the snapshot was taken, Unix milliseconds.")
    rank: int
    score: Long
    cursor: str = strawberry.field(description="Pass as `after` for the next (older) page.")

    @classmethod
    def from_point(cls, p: RankPoint) -> RankPointType:
        return cls(taken_at=Long(p.taken_at_ms), rank=p.rank, score=Long(p.score),
                   cursor=encode_snapshot_cursor("r", p.taken_at_ms))


@strawberry.type(description="One stored snapshot of a board: periodic, or a season's final standings.")
class SnapshotSummary:
    taken_at: Long = strawberry.field(description="Unix milliseconds; pass it as `snapshot(takenAt:)`.")
    season: int
    total_count: int
    cursor: str = strawberry.field(description="Pass as `after` for the next (older) page.")

    @classmethod
    def from_info(cls, info: SnapshotInfo) -> SnapshotSummary:
        return cls(taken_at=Long(info.taken_at_ms), season=info.season, total_count=info.entries,
                   cursor=encode_snapshot_cursor("s", info.taken_at_ms))


@strawberry.type(description="Ranks fromRank..toRank of a stored board snapshot.")
class BoardSnapshot:
    board: str
    season: int
    taken_at: Long
    total_count: int
    entries: list[RankedEntryType]

    @classmethod
    def from_page(cls, board: str, info: SnapshotInfo, entries: list[RankedEntry]) -> BoardSnapshot:
        return cls(board=board, season=info.season, taken_at=Long(info.taken_at_ms), total_count=info.entries,
                   entries=[RankedEntryType.from_entry(e, info.taken_at_ms) for e in entries])

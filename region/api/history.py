"""History resolvers: thin calls into the warm store, every page bounded by `api.history_page_max`
(snapshot pages by `api.page_size_max`). The board and the caller's right to read it are checked
by the schema's resolvers before these run."""

from __future__ import annotations

from podium.region.api.history_types import (
    BoardSnapshot,
    RankPointType,
    ScoreEvent,
    SnapshotSummary,
    decode_history_cursor,
    decode_snapshot_cursor,
)
from podium.region.history.store import HistoryStore, SnapshotInfo, history_key
from podium.region.reads import RegionReads

from podium.errors import BadUserInput, Unavailable
from podium.model import Board, RankedEntry

# Snapshot index rows searched for a season's last snapshot (a year of hourly snapshots is ~8.8k).
SNAPSHOT_INDEX_SCAN_MAX = 10_000


def warm_store(service: RegionReads) -> HistoryStore:
    if service.history is None:
        raise Unavailable("score history is disabled in this region (history.enabled=false)")
    return service.history


def _first(service: RegionReads, first: int) -> int:
    limit = service.settings.api.history_page_max
    if not 1 <= first <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}")
    return first


def _window(since: int | None, until: int | None) -> None:
    if (since is not None and since < 0) or (until is not None and until < 0):
        raise BadUserInput("since and until are Unix milliseconds (>= 0)")
    if since is not None and until is not None and until <= since:
        raise BadUserInput("until must be after since (the window is [since, until))")


async def player_history(service: RegionReads, board: Board, player: str, since: int | None,
                         until: int | None, first: int, after: str | None = None) -> list[ScoreEvent]:
    """`board` carries the season asked for (the live one by default); `after` is the cursor of
    the last row of the previous page."""
    _window(since, until)
    before = decode_history_cursor(after) if after is not None else None
    rows = await warm_store(service).score_history(history_key(board.id, board.season), player,
                                                   _first(service, first), since_ms=since, until_ms=until,
                                                   before=before)
    return [ScoreEvent.from_row(r, board.season) for r in rows]


async def rank_history(service: RegionReads, board: Board, player: str, since: int | None,
                       until: int | None, first: int, after: str | None = None) -> list[RankPointType]:
    """Newest first; `after` is the cursor of the last point of the previous page (`until`, the
    older way to page, still works: both bound the window, the tighter wins)."""
    _window(since, until)
    if after is not None:
        older_than = decode_snapshot_cursor("r", after)
        until = older_than if until is None else min(until, older_than)
    points = await warm_store(service).rank_history(board.id, player, _first(service, first),
                                                    since_ms=since, until_ms=until)
    return [RankPointType.from_point(p) for p in points]


async def snapshot_list(service: RegionReads, board: Board, first: int,
                        after: str | None = None) -> list[SnapshotSummary]:
    """Newest first; `after` is the cursor of the last summary of the previous page."""
    before = decode_snapshot_cursor("s", after) if after is not None else None
    infos = await warm_store(service).snapshots(board.id, _first(service, first), before_ms=before)
    return [SnapshotSummary.from_info(i) for i in infos]


async def find_snapshot(store: HistoryStore, board_id: str, season: int | None,
                        taken_at: int | None) -> SnapshotInfo | None:
    """The snapshot taken at `taken_at`, else the newest of `season` (its final standings once the
    season is over), else the newest of all."""
    index = await store.snapshots(board_id, SNAPSHOT_INDEX_SCAN_MAX)
    return next((i for i in index if (taken_at is None or i.taken_at_ms == taken_at)
                 and (season is None or i.season == season)), None)


async def snapshot(service: RegionReads, board: Board, season: int | None, taken_at: int | None,
                   from_rank: int, to_rank: int) -> BoardSnapshot | None:
    size = to_rank - from_rank + 1
    limit = service.settings.api.page_size_max
    if from_rank < 1 or not 1 <= size <= limit:
        raise BadUserInput(f"fromRank must be >= 1 and toRank - fromRank + 1 between 1 and {limit}")
    if season is not None and not 0 <= season <= board.season:
        raise BadUserInput(f"season must be between 0 and {board.season}")
    store = warm_store(service)
    info = await find_snapshot(store, board.id, season, taken_at)
    if info is None:
        return None
    return BoardSnapshot.from_page(board.id, info, await store.snapshot_page(board.id, info.taken_at_ms, from_rank, to_rank))


async def stale_top(service: RegionReads, board: Board, first: int) -> tuple[list[RankedEntry], int]:
    """While a board is rebuilt: the top of its newest snapshot of the live season, or nothing."""
    if service.history is None:
        return [], 0
    info = await find_snapshot(service.history, board.id, board.season, None)
    if info is None:
        return [], 0
    return await service.history.snapshot_page(board.id, info.taken_at_ms, 1, first), info.entries

"""The warm store's reads behind its circuit breaker ("warm-store", the breaker the history writer's
appends already pass): a Cassandra or SQLite that hangs or refuses makes the history, rank-history
and snapshot queries fail at once with 503 + Retry-After once the breaker is open, instead of each
waiting on the store; every guarded read is bounded by `breakers.call_timeout_ms`.

Not guarded here: writes (the history writer calls its appends through the same breaker; snapshot
writes, board definitions and the open/close of the store are background or start-up work with their
own retries), and the bulk reads of a rebuild or a restore (`iter_player_history`, `read_snapshot`,
`has_scores`, `boards`), which legitimately take longer than one call timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from podium.region.history.store import (
    HistoryStore,
    PlayerHistory,
    RankPoint,
    ScoreRow,
    Snapshot,
    SnapshotInfo,
)

from podium.breaker import Breakers
from podium.model import Board, RankedEntry

WARM_STORE_BREAKER = "warm-store"


class BreakerHistoryStore:
    def __init__(self, inner: HistoryStore, breakers: Breakers, name: str = WARM_STORE_BREAKER) -> None:
        self.inner = inner
        self.breakers = breakers
        self.name = name

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        await self.inner.append_scores(rows)

    async def score_history(self, board: str, player: str, limit: int, *,
                            since_ms: int | None = None, until_ms: int | None = None,
                            before: tuple[int, str] | None = None) -> list[ScoreRow]:
        return await self.breakers.call(self.name, lambda: self.inner.score_history(
            board, player, limit, since_ms=since_ms, until_ms=until_ms, before=before))

    async def has_scores(self, board: str) -> bool:
        return await self.inner.has_scores(board)

    def iter_player_history(self, board: str) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
        return self.inner.iter_player_history(board)

    def iter_history_pages(self, board: str) -> AsyncIterator[list[PlayerHistory]]:
        return self.inner.iter_history_pages(board)

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        await self.inner.write_snapshot(snapshot)

    async def snapshot_times(self, board: str, limit: int) -> list[int]:
        return await self.breakers.call(self.name, lambda: self.inner.snapshot_times(board, limit))

    async def snapshots(self, board: str, limit: int, *, before_ms: int | None = None) -> list[SnapshotInfo]:
        return await self.breakers.call(self.name, lambda: self.inner.snapshots(board, limit, before_ms=before_ms))

    async def read_snapshot(self, board: str, taken_at_ms: int) -> Snapshot | None:
        return await self.inner.read_snapshot(board, taken_at_ms)

    async def snapshot_page(self, board: str, taken_at_ms: int, from_rank: int, to_rank: int) -> list[RankedEntry]:
        return await self.breakers.call(self.name, lambda: self.inner.snapshot_page(board, taken_at_ms, from_rank, to_rank))

    async def rank_history(self, board: str, player: str, limit: int, *,
                           since_ms: int | None = None, until_ms: int | None = None) -> list[RankPoint]:
        return await self.breakers.call(self.name, lambda: self.inner.rank_history(
            board, player, limit, since_ms=since_ms, until_ms=until_ms))

    async def save_board(self, board: Board) -> None:
        await self.inner.save_board(board)

    async def drop_board(self, board_id: str) -> None:
        await self.inner.drop_board(board_id)

    async def boards(self) -> list[Board]:
        return await self.inner.boards()


_: type[HistoryStore] = BreakerHistoryStore

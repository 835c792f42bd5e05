"""The region's read fronts.

`LiveReads`: the raw reads of live boards by id, what the fan-out, the top snapshots and the push-lag
probe poll. `RegionReads`: what the read handlers (GraphQL resolvers, REST reads, history reads)
depend on: the board registry and rank store, the read cache, this process's in-memory top
(early pages, serve-stale), the warm store, and the limits. Both are built by `region/wiring.py`."""

from __future__ import annotations

from dataclasses import dataclass

from podium.region.history.store import HistoryStore
from podium.region.rank_store import RankStore, read_all
from podium.region.read_cache import ReadCache
from podium.region.top_snapshots import TopSnapshots

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock
from podium.config import Settings
from podium.errors import Rebuilding
from podium.keys import keys_of
from podium.model import Board, RankCursor, RankedEntry

STANDINGS_CHUNK_ENTRIES = 10_000  # entries per Redis read when a snapshot reads a whole board


@dataclass(frozen=True, slots=True)
class LiveReads:
    boards: BoardRegistry
    store: RankStore

    async def range(self, board_id: str, start: int, count: int) -> list[RankedEntry]:
        return await self.store.range(await self.boards.require(board_id), start, count)

    async def top(self, board: Board, n: int) -> tuple[list[RankedEntry], int]:
        return await self.store.range(board, 0, n), await self.store.count(board)

    async def players(self, board_id: str, players: list[str]) -> list[RankedEntry | None]:
        return await self.store.players(await self.boards.require(board_id), players)

    async def versions(self, board_ids: list[str]) -> dict[str, str]:
        """The newest change-stream id of each board: a board changed iff it moved."""
        boards = await self.boards.all()
        out = {}
        for board_id in board_ids:
            board = boards.get(board_id)
            if board is None:
                continue
            out[board_id] = f"{board.season}:{await self.store.version(board)}"
        return out

    async def board_keys(self) -> dict[str, list[str]]:
        """Each board's ranking keys in its current season (what its memory is)."""
        return {b.id: [keys_of(b).zset, keys_of(b).index, keys_of(b).changes]
                for b in (await self.boards.all()).values()}


@dataclass(frozen=True, slots=True)
class RegionReads:
    settings: Settings
    clock: Clock
    boards: BoardRegistry
    store: RankStore
    read_cache: ReadCache
    top_snapshots: TopSnapshots
    breakers: Breakers                  # serve-stale reads look at the "redis" breaker
    history: HistoryStore | None        # the warm store; None: history disabled

    async def standings(self, board_id: str) -> tuple[int, list[RankedEntry]]:
        """A board's full live standings in rank order, for snapshots (read in bounded chunks)."""
        board = await self.boards.require(board_id)
        if self.boards.rebuilding(board_id):
            raise Rebuilding(board_id)
        return board.season, await read_all(self.store, board, STANDINGS_CHUNK_ENTRIES)

    async def cached_range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        """A page in rank order through the read cache (one Redis read per key per tick)."""
        return await self.read_cache.get(  # type: ignore[no-any-return]
            ("range", board.id, board.season, start, count), lambda: self.store.range(board, start, count))

    async def early_page(self, board: Board, start: int, count: int) -> tuple[list[RankedEntry], int, int] | None:
        """Rows start..start+count-1 (0-based) of the live board from this process's in-memory top,
        with the board's count and the snapshot's asOf (ms); None when the page lies past it."""
        snapshots = self.top_snapshots
        if not snapshots.covers(start + count):
            return None
        live = await self.boards.require(board.id)
        if board.season != live.season or self.boards.rebuilding(board.id):
            return None
        snapshot = await snapshots.top(board, start + count)
        return snapshot.rows[start:start + count], snapshot.total, snapshot.as_of_ms

    def last_good_top(self, board_id: str, first: int,
                      after: RankCursor | None = None) -> tuple[Board, list[RankedEntry], int, int] | None:
        """Serve-stale: the newest page of the board's live season this process holds in memory (its
        top snapshot) as (board, rows, count, asOf ms), without any I/O: the top `first`, or the
        `first` entries after the cursor `after` when the snapshot holds that very entry (so the page
        continues the one the client read). None when it holds no such page whole (a short page
        only where the snapshot holds the whole board). For reads while Redis is failing, labelled
        stale by the caller."""
        board = self.boards.cached().get(board_id)
        snapshots = self.top_snapshots
        if board is None or not snapshots.enabled:
            return None
        snapshot = snapshots.snapshots.get((board.id, board.season))
        if snapshot is None:
            return None
        start = 0
        if after is not None:
            key = (after.score, after.achieved_at_ms, after.player)
            start = next((i + 1 for i, r in enumerate(snapshot.rows) if (r.score, r.achieved_at_ms, r.player) == key), -1)
            if start < 0:
                return None
        if start + first > len(snapshot.rows) and len(snapshot.rows) < snapshot.total:
            return None
        return board, snapshot.rows[start:start + first], snapshot.total, snapshot.as_of_ms

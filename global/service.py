"""The global tier's components and its view of each region (last contact, replication lag)."""

from __future__ import annotations

from dataclasses import dataclass, field

from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import Unavailable
from podium.errors import NotFound
from podium.global_.merged_store import GlobalStore
from podium.global_.rank_estimate import RankEstimate, SketchSnapshot, merged, tiered_estimate
from podium.model import Board
from podium.redis_client import AnyRedis, connect
from podium.region.boards import BoardRegistry


@dataclass
class RegionStatus:
    region: str
    last_contact_ms: int = 0
    last_change_ms: int = 0       # achievement time of the newest change received
    changes_received: int = 0
    lag_ms: int = 0               # receive time minus the newest change's regional commit time


@dataclass
class GlobalService:
    settings: Settings
    clock: Clock
    redis: AnyRedis
    store: GlobalStore
    boards: BoardRegistry
    regions: dict[str, RegionStatus] = field(default_factory=dict)
    sketches: SketchBook = field(default_factory=lambda: SketchBook())

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> GlobalService:
        clock = clock or SystemClock()
        if not settings.redis_url:
            raise Unavailable("no Redis configured for the global tier: set REDIS_URL")
        redis = connect(settings.redis_url, cluster=settings.redis_cluster,
                        connections_max=settings.redis_pool_connections_max)
        return cls(settings, clock, redis, GlobalStore(redis, settings.global_.top_k), BoardRegistry(redis, clock))

    def region(self, name: str) -> RegionStatus:
        if name not in self.regions:
            self.regions[name] = RegionStatus(name)
        return self.regions[name]

    def is_stale(self, status: RegionStatus) -> bool:
        return self.clock.now_ms() - status.last_contact_ms > self.settings.global_.stale_after_ms

    async def estimate_rank(self, board: Board, score: int) -> RankEstimate:
        """APPROXIMATE from the fine sketches; past `approximate_rank_max`, ESTIMATED from the coarse ones."""
        g = self.settings.global_
        fine, fine_as_of = merged(self.sketches.of(board.id, coarse=False))
        if fine is None:
            raise NotFound(f"no rank sketches received yet for board {board.id!r}")
        coarse, coarse_as_of = merged(self.sketches.of(board.id, coarse=True))
        return tiered_estimate(fine, fine_as_of, coarse, coarse_as_of, score, board.order,
                               exact_top=g.top_k, approximate_max=g.approximate_rank_max)

    async def close(self) -> None:
        await self.redis.aclose()


@dataclass
class SketchBook:
    """The latest fine and coarse sketch of each (board, region), as shipped by the regions."""

    fine: dict[tuple[str, str], SketchSnapshot] = field(default_factory=dict)
    coarse: dict[tuple[str, str], SketchSnapshot] = field(default_factory=dict)

    def put(self, board: str, snap: SketchSnapshot, coarse: bool) -> None:
        (self.coarse if coarse else self.fine)[(board, snap.region)] = snap

    def of(self, board: str, coarse: bool) -> list[SketchSnapshot]:
        book = self.coarse if coarse else self.fine
        return [s for (b, _), s in book.items() if b == board]

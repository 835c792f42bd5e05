"""Subscription payload types, shared by the regional and the global schema."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from podium.fanout import RankUpdate, TopUpdate
from podium.gql.scalars import Long
from podium.gql.types import RankedEntryType, as_of
from podium.top_diff import TopChange


@strawberry.enum
class ChangeKind(Enum):
    ENTERED = "ENTERED"
    LEFT = "LEFT"
    MOVED = "MOVED"
    SCORE_CHANGED = "SCORE_CHANGED"


@strawberry.type(description="One change to a watched top-n.")
class TopChangeType:
    kind: ChangeKind
    player: str
    rank: int | None = strawberry.field(description="New rank; null when the player left the top.")
    previous_rank: int | None
    score: Long | None
    previous_score: Long | None
    achieved_at: Long | None

    @classmethod
    def from_change(cls, c: TopChange) -> TopChangeType:
        return cls(kind=ChangeKind(c.kind.value), player=c.player, rank=c.rank, previous_rank=c.previous_rank,
                   score=c.score, previous_score=c.previous_score, achieved_at=c.achieved_at_ms)  # type: ignore[arg-type]


@strawberry.type(description="The first message holds the full top (`full: true`); later ones only the "
                             "changes since the previous message, at most one per tick.")
class TopChanged:
    board: str
    n: int
    seq: int = strawberry.field(description="Tick number; increases by at least one per message.")
    full: bool
    entries: list[RankedEntryType]
    changes: list[TopChangeType]
    as_of: datetime

    @classmethod
    def from_update(cls, u: TopUpdate) -> TopChanged:
        return cls(board=u.board, n=u.n, seq=u.seq, full=u.full,
                   entries=[RankedEntryType.from_entry(e, u.as_of_ms) for e in u.entries],
                   changes=[TopChangeType.from_change(c) for c in u.changes], as_of=as_of(u.as_of_ms))


@strawberry.type(description="A player's new rank and score; `overtakenBy` lists who passed them.")
class RankChanged:
    board: str
    player: str
    rank: int | None
    previous_rank: int | None
    score: Long | None
    overtaken_by: list[str]
    as_of: datetime

    @classmethod
    def from_update(cls, u: RankUpdate) -> RankChanged:
        return cls(board=u.board, player=u.player, rank=u.rank, previous_rank=u.previous_rank,
                   score=u.score, overtaken_by=u.overtaken_by, as_of=as_of(u.as_of_ms))  # type: ignore[arg-type]

"""Admin mutations (board lifecycle, player moderation) and score submission."""

from __future__ import annotations

from typing import Any

import strawberry
from podium.region.admin import BoardAdmin
from podium.region.api.contests import ContestMutations
from podium.region.notifications.graphql_api import NotificationMutations
from podium.region.trending.graphql import TrendingMutations
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import Unauthenticated
from podium.gql import typed
from podium.gql.auth import require_admin
from podium.gql.scalars import Long
from podium.gql.types import Board, Operator, SortOrder
from podium.model import Board as BoardModel


@strawberry.input(description="A board's rules.")
class BoardInput:
    id: str
    operator: Operator = Operator.BEST
    order: SortOrder = SortOrder.DESC
    score_min: Long | None = None
    score_max: Long | None = None
    max_delta_per_minute: Long | None = None
    public_read: bool = True
    cache_max_age: int = 1

    def to_model(self, season: int = 0) -> BoardModel:
        return BoardModel.from_dict({
            "id": self.id, "operator": self.operator.value, "order": self.order.value,
            "score_min": self.score_min, "score_max": self.score_max,
            "max_delta_per_minute": self.max_delta_per_minute, "public_read": self.public_read, "season": season,
            "cache_max_age_s": self.cache_max_age,
        })


@strawberry.input(description="One score, as in POST /v1/scores.")
class ScoreInput:
    board: str
    player: str
    score: Long
    achieved_at: Long
    event_id: str


def _service(info: Info[Any, Any]) -> Any:
    return info.context["service"]


def _admin(info: Info[Any, Any]) -> BoardAdmin:
    admin: BoardAdmin = _service(info).admin
    return admin


# A subclass of Any only when mypy runs on the checkout layout (docs/typing.md).
@strawberry.type
class Mutation(ContestMutations, NotificationMutations, TrendingMutations):  # type: ignore[misc, unused-ignore]
    @typed.mutation(description="Admins: create a board.")
    async def create_board(self, info: Info[Any, Any], board: BoardInput) -> Board:
        await require_admin(info)
        return Board.from_model(await _admin(info).create_board(board.to_model()))

    @typed.mutation(description="Admins: change a board's rules (its season is kept).")
    async def update_board(self, info: Info[Any, Any], board: BoardInput) -> Board:
        await require_admin(info)
        return Board.from_model(await _admin(info).update_board(board.to_model()))

    @typed.mutation(description="Admins: delete a board definition (its data is kept until it expires).")
    async def delete_board(self, info: Info[Any, Any], board: str) -> bool:
        await require_admin(info)
        await _admin(info).delete_board(board)
        return True

    @typed.mutation(description="Admins: start a new season. The final standings are archived first "
                                "(warm store and a JSONL.gz export; see `snapshot(season:)`), and the "
                                "previous season stays readable with the `season` argument of the read queries.")
    async def reset_board(self, info: Info[Any, Any], board: str) -> Board:
        await require_admin(info)
        return Board.from_model(await _admin(info).reset_board(board))

    @typed.mutation(description="Admins: delete a player's entry from a board.")
    async def delete_player(self, info: Info[Any, Any], board: str, player: str) -> bool:
        await require_admin(info)
        deleted: bool = await _admin(info).delete_player(board, player)
        return deleted

    @typed.mutation(description="Admins: ban a player from a board: their entry vanishes and new "
                                "scores are rejected.")
    async def ban_player(self, info: Info[Any, Any], board: str, player: str) -> bool:
        await require_admin(info)
        await _admin(info).ban_player(board, player)
        return True

    @typed.mutation(description="Submit scores (same rules and per-entry results as POST /v1/scores). "
                                "For trusted back-ends holding an admin key; game servers sign batches "
                                "to POST /v1/scores instead.")
    async def submit_scores(self, info: Info[Any, Any], entries: list[ScoreInput],
                            idempotency_key: str | None = None) -> JSON:
        try:
            await require_admin(info)
        except Unauthenticated as exc:
            raise Unauthenticated("submitScores needs an admin key; game servers use signed POST /v1/scores") from exc
        raw = [{"board": e.board, "player": e.player, "score": e.score, "achieved_at": e.achieved_at,
                "event_id": e.event_id} for e in entries]
        return await _service(info).ingest.submit(raw, scope="graphql-admin", idem_key=idempotency_key)  # type: ignore[no-any-return]

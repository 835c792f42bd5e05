"""The GraphQL shapes of a notification rule, shared by a region's schema and the global tier's (the
same declaration on either tier; which tier accepts which kind: docs/notifications.md)."""

from __future__ import annotations

import strawberry

from podium.gql.scalars import Long
from podium.notify_rules import Rule


@strawberry.type(name="NotificationRule")
class NotificationRuleType:
    id: str
    board: str
    kind: str
    n: int
    near_ranks: int
    window_ms: Long
    metric: str
    value: Long

    @classmethod
    def from_rule(cls, r: Rule) -> NotificationRuleType:
        return cls(id=r.id, board=r.board, kind=str(r.kind), n=r.n, near_ranks=r.near_ranks,
                   window_ms=Long(r.window_ms), metric=str(r.metric), value=Long(r.value))


@strawberry.input(description="A rule: kind is overtaken, entered_top_n, left_top_n, threshold, quarantined, board_ending, board_ended or contest_locking (metric score "
                              "or rank, value); see docs/notifications.md.")
class NotificationRuleInput:
    id: str
    board: str
    kind: str
    n: int = 10
    near_ranks: int = 5
    window_ms: int = 60_000
    metric: str = "score"
    value: Long = 0  # type: ignore[assignment]

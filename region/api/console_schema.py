"""Admin fields for the console that the core schema lacks: quarantine review, unban, the audit log.
Merged into the region schema's Query and Mutation (see `schema.build_schema`)."""

from __future__ import annotations

from typing import Any

import strawberry
from podium.region import quarantine_review
from podium.region.rank_store import QuarantinedEntry as QuarantinedModel
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import BadUserInput
from podium.gql import typed
from podium.gql.audit import audit_log_of
from podium.gql.auth import require_admin
from podium.gql.scalars import Long
from podium.web.audit import AuditRecord

REASON_CHARS_MAX = 500
QUARANTINE_PAGE_MAX = 1000


@strawberry.type(description="An entry held back by the anti-cheat, waiting for review.")
class QuarantinedEntry:
    id: str
    player: str
    score: Long
    achieved_at: Long
    event_id: str
    reason: str
    detail: JSON

    @classmethod
    def from_model(cls, row: QuarantinedModel) -> QuarantinedEntry:
        return cls(id=row.id, player=row.player, score=Long(row.score), achieved_at=Long(row.achieved_at_ms),
                   event_id=row.event_id, reason=row.reason, detail=JSON(row.detail))


@strawberry.type(description="What approving a quarantined entry did.")
class QuarantineApproval:
    status: str
    rank: int | None


@strawberry.type(description="One admin action: who, what, when.")
class AuditEntry:
    at: Long = strawberry.field(description="Unix milliseconds.")
    who: str = strawberry.field(description="'key:<fingerprint>' for an admin key, 'jwt:<sub>' for an admin token.")
    action: str
    detail: JSON

    @classmethod
    def from_record(cls, r: AuditRecord) -> AuditEntry:
        return cls(at=Long(r.at_ms), who=r.who, action=r.action, detail=JSON(r.detail))


def _check_reason(reason: str) -> None:
    if len(reason) > REASON_CHARS_MAX:
        raise BadUserInput(f"reason must be at most {REASON_CHARS_MAX} characters")


@strawberry.type
class ConsoleQuery:
    @typed.field(description="Admins: a board's quarantined entries, newest first.")
    async def quarantined(self, info: Info[Any, Any], board: str, first: int = 100) -> list[QuarantinedEntry]:
        await require_admin(info)
        if not 1 <= first <= QUARANTINE_PAGE_MAX:
            raise BadUserInput(f"first must be between 1 and {QUARANTINE_PAGE_MAX}")
        service = info.context["service"]
        rows = await service.store.quarantined(await service.boards.require(board), first)
        return [QuarantinedEntry.from_model(r) for r in rows]

    @typed.field(description="Admins: the audit log of admin actions, newest first.")
    async def audit_log(self, info: Info[Any, Any], first: int = 50) -> list[AuditEntry]:
        await require_admin(info)
        service = info.context["service"]
        limit = service.settings.api.audit_log_len_max
        if not 1 <= first <= limit:
            raise BadUserInput(f"first must be between 1 and {limit}")
        return [AuditEntry.from_record(r) for r in await audit_log_of(service).recent(first)]


@strawberry.type
class ConsoleMutation:
    @typed.mutation(description="Admins: approve a quarantined entry: it is applied (without the delta "
                                     "check) and leaves the quarantine. The reason is recorded in the audit log.")
    async def approve_quarantined(self, info: Info[Any, Any], board: str, id: str,
                                  reason: str = "") -> QuarantineApproval:
        await require_admin(info)
        _check_reason(reason)
        service = info.context["service"]
        status, rank = await quarantine_review.approve(service, await service.boards.require(board), id)
        return QuarantineApproval(status=status, rank=rank)

    @typed.mutation(description="Admins: reject a quarantined entry: it is dropped. The reason is "
                                     "recorded in the audit log.")
    async def reject_quarantined(self, info: Info[Any, Any], board: str, id: str,
                                 reason: str = "") -> QuarantinedEntry:
        await require_admin(info)
        _check_reason(reason)
        service = info.context["service"]
        row = await quarantine_review.reject(service, await service.boards.require(board), id)
        return QuarantinedEntry.from_model(row)

    @typed.mutation(description="Admins: lift a player's ban on a board (their removed entry stays removed).")
    async def unban_player(self, info: Info[Any, Any], board: str, player: str) -> bool:
        await require_admin(info)
        service = info.context["service"]
        return bool(await quarantine_review.unban(service, await service.boards.require(board), player))

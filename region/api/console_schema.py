"""Admin fields for the console that the core schema lacks: quarantine review, unban, the audit log,
score edits with a reason, snapshots and rebuilds on demand. Merged into the region schema's Query and Mutation (see `schema.build_schema`)."""

from __future__ import annotations

from typing import Any

import strawberry
from podium.region.rank_store import QuarantinedEntry as QuarantinedModel
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import BadUserInput, Unavailable
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


@strawberry.type(description="What a score edit did: `applied` with the new rank, or `rejected` with why "
                                "(e.g. the player is banned).")
class ScoreEdit:
    status: str
    reason: str | None
    rank: int | None
    score: Long | None


@strawberry.type(description="A snapshot taken on demand.")
class SnapshotTaken:
    board: str
    season: int
    taken_at: Long = strawberry.field(description="Unix milliseconds.")
    total_count: int


@strawberry.type(description="A rebuild of a board from the warm store, and the check that followed it.")
class RebuildResult:
    board: str
    season: int
    entries: int
    took_ms: int
    backlog_rows: int = strawberry.field(description="Rows taken from the history backlog (not yet in the warm store).")
    verified: bool = strawberry.field(description="The live board equals what the warm store gives, right after.")
    differences: int = strawberry.field(description="Players missing, extra or differing in that check.")


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
        status, rank = await service.admin.approve_quarantined(board, id, service.clock.now_ms(),
                                                               region=service.settings.region)
        return QuarantineApproval(status=status, rank=rank)

    @typed.mutation(description="Admins: reject a quarantined entry: it is dropped. The reason is "
                                     "recorded in the audit log.")
    async def reject_quarantined(self, info: Info[Any, Any], board: str, id: str,
                                 reason: str = "") -> QuarantinedEntry:
        await require_admin(info)
        _check_reason(reason)
        row = await info.context["service"].admin.reject_quarantined(board, id)
        return QuarantinedEntry.from_model(row)

    @typed.mutation(description="Admins: lift a player's ban on a board (their removed entry stays removed).")
    async def unban_player(self, info: Info[Any, Any], board: str, player: str) -> bool:
        await require_admin(info)
        return bool(await info.context["service"].admin.unban_player(board, player))

    @typed.mutation(description="Admins: set a player's score on a board to exactly `score`, whatever the "
                                "board's operator (it is applied as the newest write). `reason` is required "
                                "and recorded in the audit log.")
    async def edit_score(self, info: Info[Any, Any], board: str, player: str, score: Long, reason: str) -> ScoreEdit:
        await require_admin(info)
        service = info.context["service"]
        r = await service.admin.edit_score(board, player, int(score), reason, service.clock.now_ms(),
                                           region=service.settings.region)
        return ScoreEdit(status=r.status.value, reason=r.reason, rank=r.rank,
                         score=Long(r.score) if r.score is not None else None)

    @typed.mutation(description="Admins: take a snapshot of a board's live standings now (warm store).")
    async def take_snapshot(self, info: Info[Any, Any], board: str) -> SnapshotTaken:
        await require_admin(info)
        snap = await info.context["service"].admin.snapshot_now(board)
        return SnapshotTaken(board=snap.board, season=snap.season, taken_at=Long(snap.taken_at_ms),
                             total_count=len(snap.entries))

    @typed.mutation(description="Admins: rebuild a board's live season from the warm store (its writes are "
                                "refused with REBUILDING meanwhile), then verify it against the warm store.")
    async def rebuild_board(self, info: Info[Any, Any], board: str) -> RebuildResult:
        await require_admin(info)
        service = info.context["service"]
        await service.boards.require(board)
        if service.rebuilder is None:
            raise Unavailable("history is disabled in this region: nothing to rebuild from")
        [report] = await service.rebuilder.run([board])
        check = await service.rebuilder.verify(board)
        return RebuildResult(board=report.board, season=report.season, entries=report.entries,
                             took_ms=report.took_ms, backlog_rows=report.backlog_rows, verified=check.ok,
                             differences=len(check.missing) + len(check.extra) + len(check.differing))

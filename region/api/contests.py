"""GraphQL for contests: players save teams and join with their JWT (`sub` is the owner; an admin
may act for any owner); anyone reads a contest's standings; admins declare matches and contests
(the same JSON documents, validated by the same code, as the REST admin API)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from podium.region.contests.http import acting_owner
from podium.region.contests.service import ContestService
from podium.region.contests.wiring import Contests
from strawberry.scalars import JSON
from strawberry.types import Info

from podium.errors import BadUserInput
from podium.gql import typed
from podium.gql.auth import caller, require_admin
from podium.gql.errors import as_graphql_errors
from podium.gql.live import RankChanged, TopChanged
from podium.gql.live_fast import deliver
from podium.gql.scalars import Long


def _runtime(info: Info[Any, Any]) -> Contests:
    contests = getattr(info.context["request"].app.state, "contests", None)
    if contests is None:
        raise BadUserInput("contests are disabled in this region (contests.enabled=false)")
    runtime: Contests = contests
    return runtime


def _contests(info: Info[Any, Any]) -> ContestService:
    return _runtime(info).service


async def _admin(info: Info[Any, Any]) -> ContestService:
    await require_admin(info)
    return _contests(info)


async def _owner(info: Info[Any, Any], owner: str | None) -> str:
    return acting_owner(await caller(info), owner)


@strawberry.input(description="A fantasy team for one match: 11 (the contest's team size) players, a captain "
                              "(2× by default) and a vice-captain (1.5×).")
class TeamInput:
    id: str
    match: str
    players: list[str]
    captain: str
    vice: str


@strawberry.type(description="A saved team: every save before the deadline is a new version, carried into "
                             "each contest the team has joined.")
class SavedTeam:
    owner: str
    id: str
    match: str
    players: list[str]
    captain: str
    vice: str
    version: int
    contests: list[str]


@strawberry.type
class ContestEntry:
    contest: str
    entry: str
    joined: bool = strawberry.field(description="false: the team had joined before (nothing changed)")


@strawberry.type
class ContestStanding:
    rank: int
    entry: str = strawberry.field(description="owner/team")
    points: float


@strawberry.type
class ContestStandings:
    contest: str
    state: str = strawberry.field(description="open, locked, indexed, settled or void")
    as_of_ms: Long
    top: list[ContestStanding]
    around: list[ContestStanding] = strawberry.field(description="the asked entry and its neighbours")


def _standings(doc: dict[str, Any]) -> ContestStandings:
    return ContestStandings(contest=doc["contest"], state=doc["state"], as_of_ms=doc["as_of_ms"],
                            top=[ContestStanding(**s) for s in doc["top"]],
                            around=[ContestStanding(**s) for s in doc["around"]])


CONTEST_LIST_MAX = 100


@strawberry.type(description="A contest as listed on the live page.")
class ContestSummary:
    id: str
    state: str = strawberry.field(description="open, locked, indexed, settled or void")
    deadline_ms: Long = strawberry.field(description="Teams lock at this Unix ms.")


@strawberry.type
class ContestQueries:
    @typed.field(description="The contests with the latest deadlines, latest first (at most 100).")
    async def contests(self, info: Info[Any, Any], first: int = 20) -> list[ContestSummary]:
        if not 1 <= first <= CONTEST_LIST_MAX:
            raise BadUserInput(f"first must be between 1 and {CONTEST_LIST_MAX}")
        rows = await _contests(info).store.recent_contests(first)
        return [ContestSummary(id=i, state=s, deadline_ms=Long(d)) for i, s, d in rows]

    @typed.field(description="A contest's live standings: the top `first` and, with `entry`, that entry "
                             "± `around`.")
    async def contest(self, info: Info[Any, Any], id: str, first: int = 10, entry: str | None = None,
                      around: int = 5) -> ContestStandings:
        return _standings(await _contests(info).standings(id, first, entry, around))

    @typed.field(description="A settled contest's settlement, signed like the webhook's: `{settlement, key_id, "
                             "signature}` (HMAC-SHA256 of the sorted-key JSON of `settlement`); null before "
                             "settlement.")
    async def contest_settlement(self, info: Info[Any, Any], id: str) -> JSON | None:
        contests = _contests(info)
        await contests.store.contest(id)
        doc = await contests.store.settlement(id)
        return None if doc is None else JSON(contests.signed(doc))


@strawberry.type
class ContestMutations:
    @typed.mutation(description="Declare a match (admin): the body of `POST /v1/admin/contests/matches` — id, "
                                "deadline_ms, players [{id, role, credits}], scoring {version, points}. Returns "
                                "`{match}` as stored.")
    async def declare_contest_match(self, info: Info[Any, Any], match: JSON) -> JSON:
        declared = await (await _admin(info)).declare_match(match)
        return JSON({"match": declared.to_dict()})

    @typed.mutation(description="Create a contest (admin): the body of `POST /v1/admin/contests` — id, match, "
                                "capacity, entry_fee, prizes [{rank_from, rank_to, amount}], rules, "
                                "entries_per_player_max. Idempotent for the same definition; CONFLICT otherwise.")
    async def create_contest(self, info: Info[Any, Any], contest: JSON) -> JSON:
        created = await (await _admin(info)).create_contest(contest)
        return JSON({"contest": created.to_dict()})

    @typed.mutation(description="Save a team (validated: size, credit cap, role quotas, captain ≠ vice). "
                                "CONTEST_LOCKED at and after the match's deadline.")
    async def save_team(self, info: Info[Any, Any], team: TeamInput, owner: str | None = None) -> SavedTeam:
        doc = {"id": team.id, "match": team.match, "players": team.players, "captain": team.captain, "vice": team.vice}
        saved = await _contests(info).save_team(await _owner(info, owner), doc)
        return SavedTeam(**saved)

    @typed.mutation(description="Join a contest with a saved team; idempotent by (player, contest, team). "
                                "CONTEST_LOCKED at and after the deadline.")
    async def join_contest(self, info: Info[Any, Any], contest: str, team: str, owner: str | None = None) -> ContestEntry:
        result = await _contests(info).join(await _owner(info, owner), contest, team)
        return ContestEntry(**result)


@strawberry.type
class ContestSubscriptions:
    @typed.subscription(description="A contest's live top-n, one frame per contest tick (contests.tick_ms, "
                                    "default 3 s): first the full top, then only changes. `board` is the "
                                    "contest, `player` the entry (owner/team), `score` points × 10,000.")
    async def contest_changed(self, info: Info[Any, Any], contest: str, n: int = 10) -> AsyncGenerator[TopChanged, None]:
        runtime = _runtime(info)
        with as_graphql_errors():
            await runtime.service.contest_definition(contest)   # cached: a connect storm reads it once
            updates = runtime.fanout.subscribe_top(contest, n)
            async for message in deliver(info, updates, TopChanged.from_update, runtime.fanout.payloads, runtime.fanout):
                yield message  # type: ignore[misc]

    @typed.subscription(description="One entry's rank and points (× 10,000) in a contest, each tick it "
                                    "changes, with the entries that passed it.")
    async def contest_entry_changed(self, info: Info[Any, Any], contest: str,
                                    entry: str) -> AsyncGenerator[RankChanged, None]:
        runtime = _runtime(info)
        with as_graphql_errors():
            await runtime.service.contest_definition(contest)   # cached: a connect storm reads it once
            updates = runtime.fanout.subscribe_rank(contest, entry)
            async for message in deliver(info, updates, RankChanged.from_update, runtime.fanout.payloads, runtime.fanout):
                yield message  # type: ignore[misc]

"""REST endpoints of contests: admin declarations and actions, the signed points feed, standings,
and joins. Players build teams through GraphQL (`saveTeam`) with their JWT and join through
GraphQL (`joinContest`) or `POST /v1/contests/{contest}/entries` (`{"team": "t1"}`, the same
player JWT, the same checks, answer and error codes, without GraphQL's per-request work)."""

from __future__ import annotations

from podium.region.contests.service import ContestService
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import BadUserInput, Forbidden, Unauthenticated
from podium.gql.auth import Caller, bearer_token, token_caller
from podium.http import check_admin, json_response, parse_json, read_body, read_json
from podium.signing import verify


def contests_of(request: Request) -> ContestService:
    contests = getattr(request.app.state, "contests", None)
    if contests is None:
        raise BadUserInput("contests are disabled in this region (contests.enabled=false)")
    service: ContestService = contests.service
    return service



def _admin(request: Request) -> None:
    check_admin(request.headers, request.app.state.service.settings.admin_keys)


async def declare_match(request: Request) -> Response:
    _admin(request)
    settings = request.app.state.service.settings
    match = await contests_of(request).declare_match(await read_json(request, settings.contests.admin_body_bytes_max))
    return json_response({"match": match.to_dict()}, 201)


async def create_contest(request: Request) -> Response:
    _admin(request)
    settings = request.app.state.service.settings
    contest = await contests_of(request).create_contest(await read_json(request, settings.contests.admin_body_bytes_max))
    return json_response({"contest": contest.to_dict()}, 201)


async def contest_action(request: Request) -> Response:
    """Admins: `lock` (index a contest past its deadline), `settle`, `void`."""
    _admin(request)
    contests, contest_id = contests_of(request), request.path_params["contest"]
    action = request.path_params["action"]
    if action == "settle":
        return json_response(await contests.settle(contest_id))
    if action == "void":
        return json_response(await contests.void(contest_id))
    if action == "lock":
        contest, _ = await contests.store.contest(contest_id)
        await contests.ready_contests(contest.match)
        return json_response({"contest": contest_id, "state": (await contests.store.contest(contest_id))[1]})
    raise BadUserInput("action must be lock, settle or void")


async def feed(request: Request) -> Response:
    """Real-world events, signed like score batches: {"events": [...]}; per-event results."""
    service = request.app.state.service
    body = await read_body(request, service.settings.contests.feed_body_bytes_max)
    verify(request.headers, request.method, request.url.path, body, service.settings.game_server_keys,
           service.clock.now_ms(), service.settings.ingest.signature_window_ms)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise BadUserInput('body must be {"events": [...]}')
    return json_response({"results": await contests_of(request).feed(doc.get("events"))})


def acting_owner(who: Caller, owner: str | None) -> str:
    """Whose team a save or a join is for: the player's own, or the one an admin names."""
    if who.admin:
        if owner is None:
            raise BadUserInput("an admin acting for a player names the owner")
        return owner
    if who.player is None:
        raise Unauthenticated("teams and entries need a player token: 'Authorization: Bearer <JWT>'")
    if owner is not None and owner != who.player:
        raise BadUserInput("a player acts only for themselves")
    return who.player


async def join(request: Request) -> Response:
    """`{"team": "t1"}` with the player's bearer JWT → `{"contest", "entry", "joined"}`, as
    joinContest answers. Players only: an admin joins for a player with joinContest(owner:) in
    GraphQL, where admin mutations are audited."""
    service = request.app.state.service
    who = await token_caller(bearer_token(request.headers.get("authorization")), service)
    if who.admin:
        raise Forbidden("this endpoint is for players; an admin joins for a player with joinContest(owner:)")
    doc = await read_json(request, service.settings.contests.entry_body_bytes_max)
    if not isinstance(doc, dict) or not isinstance(doc.get("team"), str) or doc.keys() - {"team"}:
        raise BadUserInput('body must be {"team": "<team id>"}')
    owner = acting_owner(who, None)
    return json_response(await contests_of(request).join(owner, request.path_params["contest"], doc["team"]))


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise BadUserInput(f"{name} must be a small non-negative integer")
    return int(raw)


async def standings(request: Request) -> Response:
    entry = request.query_params.get("entry")
    return json_response(await contests_of(request).standings(
        request.path_params["contest"], _int_param(request, "first", 10), entry, _int_param(request, "around", 5)))


async def settlement(request: Request) -> Response:
    contests = contests_of(request)
    doc = await contests.store.settlement(request.path_params["contest"])
    if doc is None:
        raise BadUserInput("the contest is not settled yet")
    return json_response(contests.signed(doc))

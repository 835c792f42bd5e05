"""REST endpoints of contests: admin declarations and actions, the signed points feed, standings.
Players build teams and join through GraphQL (`saveTeam`, `joinContest`) with their JWT."""

from __future__ import annotations

from podium.region.contests.service import ContestService
from starlette.requests import Request
from starlette.responses import Response

from podium.errors import BadUserInput
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

"""The REST peer of the hot GraphQL reads: top N, a player's rank and score, around a player.

Plain Starlette routes over the same service calls the GraphQL resolvers make (the in-memory
top, one Redis read per player), with the same limits (`api.page_size_max`, `api.around_max`,
`ingest.player_id_len_max`), the same auth (private boards need a player token or an admin key,
`podium.gql.auth`), the same rate limits (the middleware) and the same Cache-Control. They exist so
`podium bench read` can show what GraphQL costs over the floor of a hand-written route, and for
clients that would rather not speak GraphQL. Errors are the REST error body with its code."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from podium.region.reads import RegionReads
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from podium.errors import BadUserInput, Rebuilding
from podium.gql.auth import authorize_read
from podium.http import json_response
from podium.model import Board, RankedEntry, utf8_len


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise BadUserInput(f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise BadUserInput(f"{name} must be between {low} and {high}")
    return value


def reads_of(request: Request) -> RegionReads:
    """The read front: what every route here depends on."""
    reads: RegionReads = request.app.state.service.reads
    return reads


def _player_param(request: Request, service: RegionReads) -> str:
    player: str = request.path_params["player"]
    if not 0 < (utf8_len(player) or 0) <= service.settings.ingest.player_id_len_max:
        raise BadUserInput("player id has an invalid length")
    return player


async def _readable(request: Request, service: RegionReads, *, live: bool) -> Board:
    """The board if the caller may read it: the GraphQL resolvers' check, on the same context keys."""
    board: Board = await service.boards.require(request.path_params["board"])
    await authorize_read(SimpleNamespace(context={"service": service, "request": request}),  # type: ignore[arg-type]
                         board.public_read)
    if live and service.boards.rebuilding(board.id):
        raise Rebuilding(board.id)
    return board


def _row(entry: RankedEntry) -> dict[str, Any]:
    return {"rank": entry.rank, "player": entry.player, "score": entry.score, "achievedAt": entry.achieved_at_ms}


def _cache_control(board: Board) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={board.cache_max_age_s}" if board.public_read else "private, no-store"}


async def top(request: Request) -> Response:
    """`GET /v1/boards/{board}/top?first=N`: the first N, from the in-memory top when it covers them."""
    service = reads_of(request)
    first = _int_param(request, "first", 10, 1, service.settings.api.page_size_max)
    board = await _readable(request, service, live=True)
    early = await service.early_page(board, 0, first)
    if early is not None:
        rows, total, as_of_ms = early
    else:
        rows = await service.cached_range(board, 0, first)
        total, as_of_ms = await service.store.count(board), service.clock.now_ms()
    return json_response({"board": board.id, "totalCount": total, "asOf": as_of_ms,
                          "entries": [_row(r) for r in rows]}, headers=_cache_control(board))


async def player(request: Request) -> Response:
    """`GET /v1/boards/{board}/players/{player}`: rank and score in one Redis read; nulls without an entry."""
    service = reads_of(request)
    player_id = _player_param(request, service)
    board = await _readable(request, service, live=True)
    row = (await service.store.players(board, [player_id]))[0]
    return json_response({"board": board.id, "player": player_id, "rank": row.rank if row else None,
                          "score": row.score if row else None}, headers={"Cache-Control": "private, no-store"})


async def around(request: Request) -> Response:
    """`GET /v1/boards/{board}/around/{player}?above=&below=`: the player's neighbourhood (empty without an entry)."""
    service = reads_of(request)
    limit = service.settings.api.around_max
    player_id = _player_param(request, service)
    above = _int_param(request, "above", 5, 0, limit)
    below = _int_param(request, "below", 5, 0, limit)
    board = await _readable(request, service, live=True)
    rows = await service.store.around(board, player_id, above, below)
    return json_response({"board": board.id, "player": player_id, "asOf": service.clock.now_ms(),
                          "entries": [_row(r) for r in rows]}, headers={"Cache-Control": "private, no-store"})


def read_routes() -> list[Route]:
    return [Route("/v1/boards/{board}/top", top, methods=["GET"]),
            Route("/v1/boards/{board}/players/{player}", player, methods=["GET"]),
            Route("/v1/boards/{board}/around/{player}", around, methods=["GET"])]

"""Review of quarantined entries: approve (apply the entry as if it had passed the delta check)
or reject (drop it). Either way the entry leaves the quarantine stream.

An approved entry is applied through the same Lua apply as every score, under a derived event id
(`<event>~approved`): the original id is already in the dedup window, and the derived one makes a
second approval of the same entry a harmless duplicate."""

from __future__ import annotations

import dataclasses
import re

from podium.region.ingest import apply_entries
from podium.region.rank_store import QuarantinedEntry
from podium.region.service import RegionService
from redis.exceptions import RedisError

from podium.errors import BadUserInput, NotFound, Unavailable
from podium.keys import keys_of
from podium.model import Board, ScoreEntry

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
APPROVED_SUFFIX = "~approved"


async def find(service: RegionService, board: Board, entry_id: str) -> QuarantinedEntry:
    if not STREAM_ID.match(entry_id):
        raise BadUserInput("id must be a quarantine entry id such as '1700000000000-0'")
    key = keys_of(board).quarantine
    try:
        rows = await service.redis.xrange(key, min=entry_id, max=entry_id)
    except RedisError as exc:
        raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc
    if not rows:
        raise NotFound(f"no quarantined entry {entry_id!r} on board {board.id!r}")
    fields = {_text(a): _text(b) for a, b in (rows[0][1] or {}).items()}
    return QuarantinedEntry(id=entry_id, player=fields.pop("player"), score=int(fields.pop("score")),
                            achieved_at_ms=int(fields.pop("ts"), 16), event_id=fields.pop("event"),
                            reason=fields.pop("reason"), detail=fields)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _drop(service: RegionService, board: Board, entry_id: str) -> None:
    try:
        await service.redis.xdel(keys_of(board).quarantine, entry_id)
    except RedisError as exc:
        raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc


async def approve(service: RegionService, board: Board, entry_id: str) -> tuple[str, int | None]:
    """Apply the entry, then drop it from the quarantine; (status, rank) of the apply."""
    row = await find(service, board, entry_id)
    unchecked = dataclasses.replace(board, max_delta_per_minute=None)
    entry = ScoreEntry(board.id, row.player, row.score, row.achieved_at_ms, row.event_id + APPROVED_SUFFIX)
    results = await apply_entries(service.store, {board.id: unchecked}, [(0, entry)], service.clock.now_ms(),
                                  region=service.settings.region)
    await _drop(service, board, entry_id)
    result = (results or {}).get(0)
    return (result.status.value if result else "unchanged"), (result.rank if result else None)


async def reject(service: RegionService, board: Board, entry_id: str) -> QuarantinedEntry:
    row = await find(service, board, entry_id)
    await _drop(service, board, entry_id)
    return row


async def unban(service: RegionService, board: Board, player: str) -> bool:
    """Lift a ban: new scores count again (the entry removed by the ban stays removed)."""
    try:
        return bool(await service.redis.srem(keys_of(board).banned, player))
    except RedisError as exc:
        raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc

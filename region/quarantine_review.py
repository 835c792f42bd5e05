"""Review of quarantined entries: approve (apply the entry as if it had passed the delta check)
or reject (drop it). Either way the entry leaves the quarantine stream.

An approved entry is applied through the same Lua apply as every score, under a derived event id
(`<event>~approved`): the original id is already in the dedup window, and the derived one makes a
second approval of the same entry a harmless duplicate."""

from __future__ import annotations

import dataclasses
import re

from podium.region.ingest import apply_entries
from podium.region.rank_store import QuarantinedEntry, RankStore

from podium.errors import BadUserInput, NotFound
from podium.model import Board, ScoreEntry

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
APPROVED_SUFFIX = "~approved"


async def find(store: RankStore, board: Board, entry_id: str) -> QuarantinedEntry:
    if not STREAM_ID.match(entry_id):
        raise BadUserInput("id must be a quarantine entry id such as '1700000000000-0'")
    row = await store.quarantined_entry(board, entry_id)
    if row is None:
        raise NotFound(f"no quarantined entry {entry_id!r} on board {board.id!r}")
    return row


async def approve(store: RankStore, board: Board, entry_id: str, now_ms: int,
                  region: str | None) -> tuple[str, int | None]:
    """Apply the entry, then drop it from the quarantine; (status, rank) of the apply."""
    row = await find(store, board, entry_id)
    unchecked = dataclasses.replace(board, max_delta_per_minute=None)
    entry = ScoreEntry(board.id, row.player, row.score, row.achieved_at_ms, row.event_id + APPROVED_SUFFIX)
    results = await apply_entries(store, {board.id: unchecked}, [(0, entry)], now_ms, region=region)
    await store.drop_quarantined(board, entry_id)
    result = (results or {}).get(0)
    return (result.status.value if result else "unchanged"), (result.rank if result else None)


async def reject(store: RankStore, board: Board, entry_id: str) -> QuarantinedEntry:
    row = await find(store, board, entry_id)
    await store.drop_quarantined(board, entry_id)
    return row


async def unban(store: RankStore, board: Board, player: str) -> bool:
    """Lift a ban: new scores count again (the entry removed by the ban stays removed)."""
    return await store.unban(board, player)

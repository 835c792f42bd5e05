"""Applying a checked batch and answering it in one encode: per-entry results are small msgspec
structs made straight from the store's outcomes (no `EntryResult` objects, no `to_dict`), and the
response is encoded once, in C. The JSON equals `BatchResult.to_dict()` of the general path."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from operator import attrgetter
from typing import cast

import msgspec
import orjson
from podium.region.batch_decoder import CheckedBatch, WireEntry
from podium.region.rank_store import ApplyCode, ApplyOutcome, RankStore
from podium.replication.changes import stream_id_to_seq

from podium.model import Board, EntryResult, EntryStatus, ScoreEntry

_STATUS = attrgetter("status")
# (status, reason) per store outcome; the same table as `ingest.apply_entries`
_OUTCOMES: dict[ApplyCode, tuple[str, str | None]] = {
    ApplyCode.APPLIED: (EntryStatus.APPLIED.value, None),
    ApplyCode.UNCHANGED: (EntryStatus.UNCHANGED.value, None),
    ApplyCode.QUARANTINED: (EntryStatus.QUARANTINED.value, "max_delta"),
    ApplyCode.DUPLICATE: (EntryStatus.REJECTED.value, "duplicate event"),
    ApplyCode.OVERFLOW: (EntryStatus.REJECTED.value, "score total would exceed ±2^53"),
    ApplyCode.BANNED: (EntryStatus.REJECTED.value, "player is banned"),
}
_ENCODER = msgspec.json.Encoder()


def session_token(region: str, stream_id: str) -> str:
    """Read-your-writes: the global tier answers SESSION reads once it has this version."""
    return base64.urlsafe_b64encode(orjson.dumps({region: stream_id_to_seq(stream_id)})).decode().rstrip("=")


class ResultRow(msgspec.Struct, omit_defaults=True, gc=False):
    """One entry's result; absent fields are left out, as `EntryResult.to_dict` does."""

    index: int
    status: str
    reason: str | None = None
    rank: int | None = None
    score: int | None = None
    session: str | None = None


def _rows(indexes: Sequence[int], outcomes: Sequence[ApplyOutcome], token_of: dict[str, str],
          region: str) -> list[ResultRow]:
    if not region:
        return [ResultRow(i, *_OUTCOMES[o.code], o.rank, o.score) for i, o in zip(indexes, outcomes, strict=True)]
    for out in outcomes:   # one version per Lua call: the token is made once, not per entry
        if out.version and out.version not in token_of:
            token_of[out.version] = session_token(region, out.version)
    return [ResultRow(i, *_OUTCOMES[o.code], o.rank, o.score, token_of[o.version] if o.version else None)
            for i, o in zip(indexes, outcomes, strict=True)]


def _rejected(result: EntryResult) -> ResultRow:
    return ResultRow(result.index, result.status.value, result.reason, result.rank, result.score)


async def apply_checked(store: RankStore, boards: dict[str, Board], checked: CheckedBatch, now_ms: int,
                        region: str) -> list[ResultRow]:
    """One Lua call per board (as `ingest.apply_entries`); the rows in index order."""
    groups: dict[str, tuple[Sequence[int], list[WireEntry | ScoreEntry]]]
    board_ids = checked.board_ids()
    if checked.all_valid is not None and len(board_ids) == 1:
        groups = {board_ids.pop(): (range(checked.size), list(checked.all_valid))}
    else:
        groups = {}
        for i, e in checked.valid_pairs():
            group = groups.setdefault(e.board, ([], []))
            cast(list[int], group[0]).append(i)
            group[1].append(e)
    token_of: dict[str, str] = {}
    parts: list[list[ResultRow]] = []
    for board_id, (indexes, entries) in groups.items():
        # WireEntry has ScoreEntry's attributes; the store reads only those
        outcomes = await store.apply(boards[board_id], cast(list[ScoreEntry], entries), now_ms)
        if outcomes is not None:   # None only when an offset is given, which HTTP never does
            parts.append(_rows(indexes, outcomes, token_of, region))
    if len(parts) == 1 and len(parts[0]) == checked.size:
        return parts[0]
    slots: list[ResultRow | None] = [None] * checked.size
    for i, rejected in checked.rejected.items():
        slots[i] = _rejected(rejected)
    for part in parts:
        for row in part:
            slots[row.index] = row
    return cast(list[ResultRow], slots)


def counts_of(rows: list[ResultRow]) -> dict[str, int]:
    counts = {s.value: 0 for s in EntryStatus}
    counts.update(Counter(map(_STATUS, rows)))
    return counts


def encode_response(rows: list[ResultRow], counts: dict[str, int]) -> bytes:
    return _ENCODER.encode({"results": rows, "counts": counts})

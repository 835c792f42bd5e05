"""Applying a checked batch and answering it in one encode: per-entry results are small msgspec
structs made straight from the store's outcomes (no `EntryResult` objects, no `to_dict`), and the
response is encoded once, in C. The JSON equals `BatchResult.to_dict()` of the general path."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, cast

import msgspec
import orjson
from podium.region.batch_decoder import CheckedBatch, WireEntry
from podium.region.rank_store import ApplyCode, ApplyReply, RankStore
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
# the same table keyed by the codes as a store's reply carries them (str, or bytes from hiredis)
_REPLY_OUTCOMES: dict[Any, tuple[str, str | None]] = ({c.value: o for c, o in _OUTCOMES.items()}
                                                      | {c.value.encode(): o for c, o in _OUTCOMES.items()})
_APPLIED_CODES = frozenset({ApplyCode.APPLIED.value, ApplyCode.APPLIED.value.encode()})


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


def _rows(indexes: Sequence[int], reply: ApplyReply, region: str) -> list[ResultRow]:
    """A result per entry straight from the reply's columns (one session token per Lua call)."""
    codes, ranks, scores = reply.columns()
    if not region or reply.version is None:
        return [ResultRow(i, *_REPLY_OUTCOMES[c], r or None, int(s) if s else None)
                for i, c, r, s in zip(indexes, codes, ranks, scores, strict=True)]
    token, applied = session_token(region, reply.version), _APPLIED_CODES
    return [ResultRow(i, *_REPLY_OUTCOMES[c], r or None, int(s) if s else None, token if c in applied else None)
            for i, c, r, s in zip(indexes, codes, ranks, scores, strict=True)]


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
    parts: list[list[ResultRow]] = []
    for board_id, (indexes, entries) in groups.items():
        # WireEntry has ScoreEntry's attributes; the store reads only those
        reply = await store.apply_reply(boards[board_id], cast(list[ScoreEntry], entries), now_ms)
        parts.append(_rows(indexes, reply, region))
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

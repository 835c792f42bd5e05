"""Wire format of the event log's records, shared by producer and worker.

Version 2 (written since the batched sink): one record per (batch, partition) holding every entry of
the batch that belongs to the partition, grouped by board, as JSON (orjson):
    {"v": 2, "g": [[board, [[player, score, achieved_at_ms, event_id], ...]], ...]}
Version 1 (one record per entry, the player id as key) is still read, so a log written by an older
region drains through a newer worker:
    {"b": board, "p": player, "s": score, "t": achieved_at_ms, "e": event_id}
Entries keep their batch order inside a record; a player's entries always go to the same partition
(`partition_of`: Kafka's default partitioner on the player id, as version 1 keyed them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec
import orjson
from aiokafka.partitioner import murmur2

from podium.model import ScoreEntry

RECORD_VERSION = 2


def partition_of(player: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by `player` (Java-compatible)."""
    return (int(murmur2(player.encode())) & 0x7FFFFFFF) % partitions


def encode_entry(entry: ScoreEntry) -> tuple[bytes, bytes]:
    """(key, value) of a version 1 record: one entry, keyed by its player id (kept for tests of old logs)."""
    value = orjson.dumps({"b": entry.board, "p": entry.player, "s": entry.score, "t": entry.achieved_at_ms,
                          "e": entry.event_id})
    return entry.player.encode(), value


def encode_entries(entries: Sequence[ScoreEntry]) -> bytes:
    """The value of a version 2 record holding `entries` (in order, grouped by board)."""
    groups: dict[str, list[list[Any]]] = {}
    for e in entries:
        groups.setdefault(e.board, []).append([e.player, e.score, e.achieved_at_ms, e.event_id])
    return orjson.dumps({"v": RECORD_VERSION, "g": list(groups.items())})


def decode_record(value: bytes | None) -> list[ScoreEntry] | None:
    """The entries of a scores-topic record (either version), or None for a record that is not one
    (never produced by us: it is dropped, and counted)."""
    try:
        doc = orjson.loads(value or b"")
        if not isinstance(doc, dict):
            return None
        if "v" not in doc:
            return [ScoreEntry(str(doc["b"]), str(doc["p"]), int(doc["s"]), int(doc["t"]), str(doc["e"]))]
        if doc["v"] != RECORD_VERSION:
            return None
        out = []
        for board, rows in doc["g"]:
            board = str(board)
            for player, score, ts, event in rows:
                out.append(ScoreEntry(board, str(player), int(score), int(ts), str(event)))
        return out
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class LogEntry(msgspec.Struct, gc=False):
    """A decoded entry with ScoreEntry's attribute names (the worker and the rank store read only
    those): a msgspec struct is made in a fraction of a frozen dataclass's time, which was most of
    decoding a record."""

    board: str
    player: str
    score: int
    achieved_at_ms: int
    event_id: str


class _RecordV2(msgspec.Struct):
    v: int
    g: list[tuple[str, list[tuple[str, int, int, str]]]]


_RECORD_V2 = msgspec.json.Decoder(_RecordV2)


def decode_entries(value: bytes | None) -> list[ScoreEntry] | None:
    """`decode_record` for the worker: a version 2 record whose fields all have their exact types
    (every record our sink writes) is decoded and type-checked in C into `LogEntry`s; anything else
    (version 1, big or float numbers, a bool, not JSON) takes `decode_record`, so every record keeps
    the entries or the drop it had. tests/stream/test_records.py checks both agree on any value."""
    try:
        doc = _RECORD_V2.decode(value or b"")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return decode_record(value)
    if doc.v != RECORD_VERSION:
        return None
    return cast(list[ScoreEntry], [LogEntry(board, player, score, ts, event)
                                   for board, rows in doc.g for player, score, ts, event in rows])


def decode_groups(value: bytes | None) -> list[tuple[str, list[ScoreEntry]]] | None:
    """`decode_entries` grouped by board as the record holds them: (board, its entries in order) per
    group (a version 1 record is one group). The worker fences, groups and applies whole groups, so
    it handles a record's entries per board rather than one by one; the entries are the same."""
    try:
        doc = _RECORD_V2.decode(value or b"")
    except (msgspec.DecodeError, msgspec.ValidationError):
        entries = decode_record(value)
        if entries is None:
            return None
        groups: list[tuple[str, list[ScoreEntry]]] = []
        for e in entries:
            if not groups or groups[-1][0] != e.board:
                groups.append((e.board, []))
            groups[-1][1].append(e)
        return groups
    if doc.v != RECORD_VERSION:
        return None
    return [(board, cast(list[ScoreEntry], [LogEntry(board, player, score, ts, event)
                                            for player, score, ts, event in rows])) for board, rows in doc.g]


def decode_entry(value: bytes) -> ScoreEntry | None:
    """The entry of a version 1 record (None for anything else)."""
    entries = decode_record(value)
    return entries[0] if entries is not None and len(entries) == 1 else None


def encode_doc(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)

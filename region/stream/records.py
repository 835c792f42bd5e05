"""Wire format of the event log's records (JSON values, player id keys), shared by producer and worker."""

from __future__ import annotations

from typing import Any

import orjson

from podium.model import ScoreEntry


def encode_entry(entry: ScoreEntry) -> tuple[bytes, bytes]:
    """(key, value) of a scores-topic record. The key is the player id, so a player's entries share a
    partition and are applied in the order they were acknowledged."""
    value = orjson.dumps({"b": entry.board, "p": entry.player, "s": entry.score, "t": entry.achieved_at_ms,
                          "e": entry.event_id})
    return entry.player.encode(), value


def decode_entry(value: bytes) -> ScoreEntry | None:
    """The entry of a scores-topic record, or None for a record that is not one (never produced by us)."""
    try:
        doc = orjson.loads(value)
        return ScoreEntry(str(doc["b"]), str(doc["p"]), int(doc["s"]), int(doc["t"]), str(doc["e"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def encode_doc(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)

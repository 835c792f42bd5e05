"""Parsing and validation of score batches (pure). A bad entry becomes a per-entry rejection;
only a malformed batch as a whole raises."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from podium.config import IngestLimits
from podium.errors import BadUserInput, PayloadTooLarge
from podium.model import (
    ACHIEVED_AT_MAX_MS,
    PLAYER_ID_RE,
    SCORE_ABS_MAX,
    Board,
    EntryResult,
    EntryStatus,
    ScoreEntry,
    utf8_len,
)

FIELDS = ("board", "player", "score", "achieved_at", "event_id")
# The stdlib parser (the fallback for what orjson refuses) recurses, so whether it could parse a
# deep body depended on how deep the caller's stack already was. It is given bodies up to this
# nesting only, far below the interpreter's recursion limit: the answer no longer depends on the caller.
FALLBACK_NESTING_MAX = 512
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def parse_batch(body: bytes, limits: IngestLimits) -> list[Any]:
    """The `entries` array of a JSON batch body."""
    if len(body) > limits.body_bytes_max:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {limits.body_bytes_max}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson refuses what the stdlib parser accepts (escaped lone surrogates), so such entries
        # are rejected one by one instead of losing the whole batch.
        if nesting(body) > FALLBACK_NESTING_MAX:
            raise BadUserInput(f"malformed JSON: {exc}") from exc
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise BadUserInput(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise BadUserInput("body must be a JSON object with an 'entries' array")
    return check_batch_size(doc["entries"], limits)


def nesting(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    for c in _JSON_STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        if c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_batch_size(entries: list[Any], limits: IngestLimits) -> list[Any]:
    if not entries:
        raise BadUserInput("'entries' must not be empty")
    if len(entries) > limits.batch_entries_max:
        raise PayloadTooLarge(f"batch has {len(entries)} entries; the limit is {limits.batch_entries_max}")
    return entries


def _reject(index: int, reason: str) -> EntryResult:
    return EntryResult(index, EntryStatus.REJECTED, reason=reason)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_entry(
    index: int, raw: Any, boards: Mapping[str, Board], limits: IngestLimits, now_ms: int
) -> ScoreEntry | EntryResult:
    if not isinstance(raw, dict):
        return _reject(index, "entry must be a JSON object")
    for name in FIELDS:
        if name not in raw:
            return _reject(index, f"missing field {name!r}")
    board_id, player, score, achieved_at, event_id = (raw[n] for n in FIELDS)
    if not isinstance(board_id, str):
        return _reject(index, "board must be a string")
    board = boards.get(board_id)
    if board is None:
        return _reject(index, f"unknown board {board_id[:64]!r}")
    if (
        not isinstance(player, str)
        or not 0 < len(player) <= limits.player_id_len_max
        or not PLAYER_ID_RE.fullmatch(player)
    ):
        return _reject(
            index, f"player id must be 1-{limits.player_id_len_max} characters of A-Z a-z 0-9 _ . : @ -"
        )
    if isinstance(score, float) and math.isfinite(score) and score.is_integer():
        score = int(score)
    if not _is_int(score):
        return _reject(index, "score must be an integer")
    if not -SCORE_ABS_MAX <= score <= SCORE_ABS_MAX:
        return _reject(index, "score must be within ±2^53")
    if (board.score_min is not None and score < board.score_min) or (
        board.score_max is not None and score > board.score_max
    ):
        return _reject(index, f"score {score} is out of bounds [{board.score_min}, {board.score_max}]")
    if not _is_int(achieved_at) or not 0 <= achieved_at <= ACHIEVED_AT_MAX_MS:
        return _reject(index, "achieved_at must be Unix time in milliseconds")
    if achieved_at > now_ms + limits.future_skew_ms:
        return _reject(index, "achieved_at is in the future")
    event_id_bytes = utf8_len(event_id) if isinstance(event_id, str) else None
    if event_id_bytes is None or not 0 < event_id_bytes <= limits.event_id_len_max:
        return _reject(index, f"event_id must be a string of 1-{limits.event_id_len_max} UTF-8 bytes")
    return ScoreEntry(board_id, player, score, achieved_at, event_id)


def batch_json(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body)

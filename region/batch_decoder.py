"""Decoding and validation of a `POST /v1/scores` body in C (msgspec), with the per-entry Python
validator (`validation.validate_entry`) as the judge of everything the typed decoder refuses.

Three tiers, each falling back to the next, so every hostile body keeps its exact status and reason:
1. the whole body decodes into typed, constrained structs (types, ±2^53, 48-bit times, lengths are
   checked by msgspec); what is left per entry (board known, board bounds, future skew, player
   characters, event ids whose UTF-8 form may be longer than their characters) is checked over the
   batch with C-level builtins and one regex call, and only the entries those checks flag go to
   `validate_entry`;
2. the body decodes as `{"entries": [<raw JSON>, ...]}`: each entry is decoded alone, and an entry
   the typed decoder refuses is decoded as plain JSON and judged by `validate_entry`;
3. anything else (malformed JSON, lone surrogates, unknown top-level fields, a BOM, ...) goes through
   the old whole-body path, `validation.parse_batch` and `validate_entry` for every entry.
Typed entries carry `ScoreEntry`'s attribute names, so the rank store takes them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, cast

import msgspec
import orjson
from podium.region.validation import check_batch_size, parse_batch, validate_entry

from podium.config import IngestLimits
from podium.errors import PayloadTooLarge
from podium.model import ACHIEVED_AT_MAX_MS, PLAYER_ID_RE, SCORE_ABS_MAX, Board, EntryResult, ScoreEntry

# what msgspec raises for input it refuses (invalid UTF-8 surfaces as UnicodeDecodeError, a ValueError)
_REFUSED = (msgspec.MsgspecError, ValueError, RecursionError)
_TIMES = attrgetter("achieved_at_ms")
_EVENT_IDS = attrgetter("event_id")
_PLAYERS = attrgetter("player")
# every player of a batch joined by NUL (never valid in an id) is checked by one regex call
_ALL_PLAYERS_RE = re.compile(rf"{PLAYER_ID_RE.pattern}(?:\x00{PLAYER_ID_RE.pattern})*")
_BOARDS = attrgetter("board")


class WireEntry(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True,
                rename={"achieved_at_ms": "achieved_at"}):
    """One score entry as sent; the constrained subclass made by `_decoders` is what decodes."""

    board: str
    player: str
    score: int
    achieved_at_ms: int
    event_id: str


@dataclass(frozen=True, slots=True)
class _Decoders:
    batch: msgspec.json.Decoder[Any]
    raw_batch: msgspec.json.Decoder[Any]
    entry: msgspec.json.Decoder[Any]


@lru_cache(maxsize=8)
def _decoders(player_len_max: int, event_id_len_max: int) -> _Decoders:
    """Decoders for one set of limits (limits are settings, so this cache holds one entry in practice)."""
    # no `pattern` here: msgspec would call `re` once per entry; `_suspects` matches all players at once
    player_meta = msgspec.Meta(min_length=1, max_length=player_len_max)
    entry = msgspec.defstruct(
        "CheckedEntry",
        [
            ("player", Annotated[str, player_meta]),
            ("score", Annotated[int, msgspec.Meta(ge=-SCORE_ABS_MAX, le=SCORE_ABS_MAX)]),
            ("achieved_at_ms", Annotated[int, msgspec.Meta(ge=0, le=ACHIEVED_AT_MAX_MS)]),
            # characters, not bytes: a longer event id is surely too long; a non-ASCII one within
            # the limit is measured in bytes afterwards (`_suspects`)
            ("event_id", Annotated[str, msgspec.Meta(min_length=1, max_length=event_id_len_max)]),
        ],
        bases=(WireEntry,), frozen=True, gc=False, forbid_unknown_fields=True,
        rename={"achieved_at_ms": "achieved_at"},
    )
    batch = msgspec.defstruct("CheckedBatch", [("entries", list[entry])], forbid_unknown_fields=True)  # type: ignore[valid-type]
    raw_batch = msgspec.defstruct("RawBatch", [("entries", list[msgspec.Raw])], forbid_unknown_fields=True)
    return _Decoders(msgspec.json.Decoder(batch), msgspec.json.Decoder(raw_batch), msgspec.json.Decoder(entry))


@dataclass(slots=True)
class CheckedBatch:
    """A decoded batch: `size` entries, of which `valid` (index order) passed and `rejected` did not."""

    size: int
    valid: list[tuple[int, WireEntry | ScoreEntry]] = field(default_factory=list)
    rejected: dict[int, EntryResult] = field(default_factory=dict)
    # the common case, kept without per-entry tuples: every entry valid, in order
    all_valid: list[WireEntry] | None = None

    def valid_pairs(self) -> list[tuple[int, WireEntry | ScoreEntry]]:
        if self.all_valid is not None:
            return list(enumerate(self.all_valid))
        return self.valid

    def board_ids(self) -> set[str]:
        if self.all_valid is not None:
            return set(map(_BOARDS, self.all_valid))
        return {e.board for _, e in self.valid}


@dataclass(slots=True)
class DecodedBody:
    """The body before board-dependent checks: typed entries and, per index, the plain JSON of the
    entries the typed decoder refused (None when all were typed)."""

    typed: list[WireEntry | None]
    plain: dict[int, Any] | None

    def named_boards(self) -> set[str]:
        """Every board id named as a string by an object entry (the registry is refreshed when one is unknown)."""
        if self.plain is None:
            return set(map(_BOARDS, cast(list[WireEntry], self.typed)))
        names = {e.board for e in self.typed if e is not None}
        for raw in (self.plain or {}).values():
            if isinstance(raw, dict) and isinstance(raw.get("board"), str):
                names.add(raw["board"])
        return names




def decode_body(body: bytes, limits: IngestLimits) -> DecodedBody:
    """Decode a batch body; raises exactly what `validation.parse_batch` raises for a bad batch."""
    if len(body) > limits.body_bytes_max:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {limits.body_bytes_max}")
    dec = _decoders(limits.player_id_len_max, limits.event_id_len_max)
    try:
        entries: list[WireEntry | None] = dec.batch.decode(body).entries
    except _REFUSED:
        pass
    else:
        check_batch_size(entries, limits)
        return DecodedBody(entries, None)
    try:
        raws: list[msgspec.Raw] = dec.raw_batch.decode(body).entries
    except _REFUSED:
        return _whole_body(body, limits)
    check_batch_size(raws, limits)
    typed: list[WireEntry | None] = []
    plain: dict[int, Any] = {}
    for i, raw in enumerate(raws):
        try:
            typed.append(dec.entry.decode(raw))
        except _REFUSED:
            typed.append(None)
            try:
                plain[i] = orjson.loads(bytes(raw))
            except orjson.JSONDecodeError:
                # what orjson refuses (escaped lone surrogates, its nesting bound): the whole body is parsed as
                # `parse_batch` parses it (the stdlib fallback within its nesting bound), so both agree
                return _whole_body(body, limits)
    return DecodedBody(typed, plain)


def _whole_body(body: bytes, limits: IngestLimits) -> DecodedBody:
    entries = parse_batch(body, limits)   # raises the batch's error, if it has one
    return DecodedBody([None] * len(entries), dict(enumerate(entries)))


def _as_plain(e: WireEntry) -> dict[str, Any]:
    return {"board": e.board, "player": e.player, "score": e.score, "achieved_at": e.achieved_at_ms,
            "event_id": e.event_id}


def _suspects(typed: list[WireEntry | None], boards: Mapping[str, Board], limits: IngestLimits,
              now_ms: int) -> Iterable[int]:
    """Indexes of typed entries that may still be invalid; found with batch-wide C-level scans first."""
    present = [e for e in typed if e is not None]
    if not present:
        return ()
    bounded = {b for b, board in boards.items() if board.score_min is not None or board.score_max is not None}
    boards_ok = set(map(_BOARDS, present)).issubset(boards.keys() - bounded)
    future_ok = max(map(_TIMES, present)) <= now_ms + limits.future_skew_ms
    ascii_ok = all(map(str.isascii, map(_EVENT_IDS, present)))
    players_ok = _ALL_PLAYERS_RE.fullmatch("\x00".join(map(_PLAYERS, present))) is not None
    if boards_ok and future_ok and ascii_ok and players_ok:
        return ()
    limit = now_ms + limits.future_skew_ms
    return [i for i, e in enumerate(typed) if e is not None and (
        e.board not in boards or e.board in bounded or e.achieved_at_ms > limit or not e.event_id.isascii()
        or not PLAYER_ID_RE.fullmatch(e.player))]


def check_entries(decoded: DecodedBody, boards: Mapping[str, Board], limits: IngestLimits,
                  now_ms: int) -> CheckedBatch:
    """Per-entry results equal to `validate_entry` for every entry (tests/region/test_batch_decoder.py)."""
    typed = decoded.typed
    suspects = _suspects(typed, boards, limits, now_ms)
    if decoded.plain is None and not suspects:
        return CheckedBatch(len(typed), all_valid=cast(list[WireEntry], typed))
    judged = dict(decoded.plain or {})
    for i in suspects:
        entry = typed[i]
        assert entry is not None
        judged[i] = _as_plain(entry)
    out = CheckedBatch(len(typed))
    for i, entry in enumerate(typed):
        if i in judged:
            checked = validate_entry(i, judged[i], boards, limits, now_ms)
            if isinstance(checked, ScoreEntry):
                out.valid.append((i, checked))
            else:
                out.rejected[i] = checked
        else:
            assert entry is not None
            out.valid.append((i, entry))
    return out


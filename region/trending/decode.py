"""Decoding and validation of a `POST /v1/events` body in C (msgspec), with the per-event validator
(`events.validate_event`) as the judge of everything the typed path does not clear.

1. The body decodes into typed, constrained structs (types, lengths in characters, time and weight
   ranges, unknown fields are checked by msgspec). What is left (stream known, lateness and future
   skew per stream, control characters, UTF-8 lengths, declared dimensions and their values) is
   checked over the whole batch with C-level builtins, one regex call per column and one check per
   distinct (stream, dimensions) pair; only the events those checks flag go to `validate_event`.
2. Anything msgspec refuses (wrong types, floats for integers, malformed JSON, ...) returns None:
   the caller decodes the body as plain JSON and validates every event (`events.validate_event`),
   so every hostile body keeps its exact per-event status and reason.
The accepted events come out as columns per stream (`ingest_plan.EventColumns`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import orjson
from podium.region.trending.events import (
    WEIGHT_MAX,
    EventResult,
    TrendEvent,
    validate_event,
)
from podium.region.trending.ingest_plan import Dims, EventColumns
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import TIME_MS_MAX
from podium.replication.trending_series import DIM_VALUE_RE

from podium.config import TrendingSettings
from podium.errors import BadUserInput

_REFUSED = (msgspec.MsgspecError, ValueError, RecursionError)
_CONTROL_RE = re.compile(r"[\x01-\x1f\x7f]")     # NUL is the join separator, counted apart
_STREAM, _ITEM, _AT, _ID, _WEIGHT, _DIMS = (attrgetter(n) for n in ("stream", "item", "at", "event_id",
                                                                     "weight", "dims"))
_DIMS_DECODER = msgspec.json.Decoder(dict[str, str] | None)


class WireEvent(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One event as sent; the constrained subclass made by `_decoder` is what decodes."""

    stream: str
    item: str
    at: int
    event_id: str
    weight: int = 1
    # kept as its JSON text: a batch has few distinct dimension objects, each decoded once
    dims: msgspec.Raw = msgspec.Raw(b"null")


@lru_cache(maxsize=8)
def _decoder(item_len_max: int, event_id_len_max: int) -> msgspec.json.Decoder[Any]:
    event = msgspec.defstruct(
        "CheckedEvent",
        [("item", Annotated[str, msgspec.Meta(min_length=1, max_length=item_len_max)]),
         ("at", Annotated[int, msgspec.Meta(ge=0, le=TIME_MS_MAX)]),
         ("event_id", Annotated[str, msgspec.Meta(min_length=1, max_length=event_id_len_max)]),
         ("weight", Annotated[int, msgspec.Meta(ge=1, le=WEIGHT_MAX)], 1)],
        bases=(WireEvent,), frozen=True, gc=False, forbid_unknown_fields=True,
    )
    batch = msgspec.defstruct("CheckedEvents", [("events", list[event])], forbid_unknown_fields=True)  # type: ignore[valid-type]
    return msgspec.json.Decoder(batch)


@dataclass(slots=True)
class DecodedEvents:
    """`size` events: the accepted ones as columns per stream (with their batch indices), the rest rejected."""

    size: int
    columns: dict[str, tuple[list[int], EventColumns]] = field(default_factory=dict)
    rejected: dict[int, EventResult] = field(default_factory=dict)


def decode_typed(body: bytes, limits: TrendingSettings) -> list[WireEvent] | None:
    """The events of a body msgspec can type, or None (then the plain-JSON path judges it)."""
    try:
        events: list[WireEvent] = _decoder(limits.item_len_max, limits.event_id_len_max).decode(body).events
    except _REFUSED:
        return None
    return events


def json_value(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson refuses integers beyond 64 bits; the stdlib parser takes them, so such events are
        # rejected one by one instead of losing the whole batch
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise BadUserInput(f"malformed JSON: {exc}") from exc


def events_of_body(body: bytes) -> Any:
    """The raw `events` array of a body the typed path refused (400 when there is none)."""
    doc = json_value(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise BadUserInput("body must be a JSON object with an 'events' array")
    return doc["events"]


def _bad_strings(values: list[str], bytes_max: int, control: bool) -> set[int]:
    """Indices of values with control characters (when `control`) or longer than `bytes_max` in UTF-8."""
    joined = "\x00".join(values)
    bad: set[int] = set()
    if control and (joined.count("\x00") != len(values) - 1 or _CONTROL_RE.search(joined)):
        bad |= {i for i, v in enumerate(values) if "\x00" in v or _CONTROL_RE.search(v)}
    if not joined.isascii():
        bad |= {i for i, v in enumerate(values) if len(v.encode()) > bytes_max}
    return bad


def _dims_ok(spec: StreamSpec, dims: Dims) -> bool:
    return all(name in spec.dimensions and DIM_VALUE_RE.match(value) for name, value in dims)


def _canonical_dims(raws: set[bytes]) -> dict[bytes, Dims | None]:
    """Each distinct dimension object's sorted (name, value) pairs; None when it is not an object
    of strings (`validate_event` then gives the reason)."""
    out: dict[bytes, Dims | None] = {}
    for raw in raws:
        try:
            d = _DIMS_DECODER.decode(raw)
        except _REFUSED:
            out[raw] = None
            continue
        out[raw] = tuple(sorted(d.items())) if d else ()
    return out


def _as_sent(event: WireEvent) -> dict[str, Any]:
    """The event as the plain-JSON path sees it (for `validate_event`)."""
    raw = msgspec.structs.asdict(event)
    raw["dims"] = json_value(bytes(event.dims))
    return raw


def check_typed(events: list[WireEvent], streams: Mapping[str, StreamSpec], limits: TrendingSettings,
                now_ms: int) -> DecodedEvents:
    """Batch-level checks of typed events; flagged events are judged by `validate_event`."""
    n = len(events)
    names, items, ats = list(map(_STREAM, events)), list(map(_ITEM, events)), list(map(_AT, events))
    ids, weights = list(map(_ID, events)), list(map(_WEIGHT, events))
    dim_keys: list[bytes] = list(map(bytes, map(_DIMS, events)))     # the JSON text, as sent
    canonical = _canonical_dims(set(dim_keys))
    flagged = _bad_strings(items, limits.item_len_max, True) | _bad_strings(ids, limits.event_id_len_max, False)
    distinct = set(names)
    for stream_id in distinct:
        spec = streams.get(stream_id)
        if spec is None:
            flagged |= {i for i, s in enumerate(names) if s == stream_id}
            continue
        lo, hi = now_ms - spec.lateness_ms, now_ms + limits.future_skew_ms
        mine = [i for i, s in enumerate(names) if s == stream_id] if len(distinct) > 1 else range(n)
        if len(distinct) == 1 and lo <= min(ats) and max(ats) <= hi:
            continue
        if not all(lo <= ats[i] <= hi for i in mine):
            flagged |= {i for i in mine if not lo <= ats[i] <= hi}
    pairs = {(names[0], d) for d in canonical} if len(distinct) == 1 else set(zip(names, dim_keys))
    bad_dims = {(s, d) for s, d in pairs if s in streams and (canonical[d] is None or not _dims_ok(streams[s], canonical[d] or ()))}
    if bad_dims:
        flagged |= {i for i, pair in enumerate(zip(names, dim_keys)) if pair in bad_dims}
    out = DecodedEvents(n)
    for i in sorted(flagged):
        checked = validate_event(i, _as_sent(events[i]), streams, limits, now_ms)
        if isinstance(checked, TrendEvent):     # the typed checks are stricter than needed here
            flagged.discard(i)
        else:
            out.rejected[i] = checked
    by_stream: dict[str, list[int]] = {}
    if not flagged and len(distinct) == 1:
        by_stream[names[0]] = list(range(n))
    else:
        for i, s in enumerate(names):
            if i not in flagged:
                by_stream.setdefault(s, []).append(i)
    for stream_id, picked in by_stream.items():
        tuples: dict[Dims, int] = {(): 0}
        # an unparsable object's events are all flagged, so it is never looked up
        index = {d: tuples.setdefault(c, len(tuples)) for d, c in canonical.items() if c is not None}
        if len(picked) == n:
            cols = EventColumns(ids, items, ats, weights, list(map(index.__getitem__, dim_keys)))
        else:
            cols = EventColumns([ids[i] for i in picked], [items[i] for i in picked], [ats[i] for i in picked],
                                [weights[i] for i in picked], [index[dim_keys[i]] for i in picked])
        cols.dim_tuples = list(tuples)
        out.columns[stream_id] = (picked, cols)
    return out

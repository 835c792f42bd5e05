"""Trending events (pure): validation of untrusted entries, and the series each event feeds.

A series is the whole stream ("") or one combination of declared dimension values, written
`mode=ranked&platform=pc` (names sorted). An event feeds the series of every subset of its
dimensions, so a query filtering on any subset reads exactly one series."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from typing import Any

from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import TIME_MS_MAX
from podium.replication.trending_series import DIM_VALUE_RE, series_for, series_key

from podium.config import TrendingSettings
from podium.errors import BadUserInput

ITEM_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")
WEIGHT_MAX = 1_000_000       # per event; totals stay exact far below 2^53
FIELDS = ("stream", "item", "at", "event_id")


class EventStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"      # the event id was counted before (within the dedup window)
    REJECTED = "rejected"        # invalid, too late or too far ahead; `reason` says why
    ACCEPTED = "accepted"        # event-log mode: on the log, counted by the worker (once per event id)


@dataclass(frozen=True, slots=True)
class TrendEvent:
    stream: str
    item: str
    at_ms: int
    weight: int
    event_id: str
    dims: tuple[tuple[str, str], ...] = ()     # sorted by dimension name


@dataclass(frozen=True, slots=True)
class EventResult:
    index: int
    status: EventStatus
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "status": self.status.value}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def series_of(dims: Sequence[tuple[str, str]]) -> list[str]:
    """Every series an event with these dimension values feeds ("" first)."""
    items = sorted(dims)
    return [series_key(c) for n in range(len(items) + 1) for c in combinations(items, n)]


def query_series(spec: StreamSpec, dims: Mapping[str, Any] | None) -> str:
    """The series a query filtering on `dims` reads; unknown dimensions are a 400."""
    return series_for(spec.id, spec.dimensions, dims)


def _int(value: object) -> int | None:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def validate_event(index: int, raw: Any, streams: Mapping[str, StreamSpec], limits: TrendingSettings,
                   now_ms: int) -> TrendEvent | EventResult:
    """A validated event, or its rejection (never raises: a bad entry never drops good ones)."""
    def reject(reason: str) -> EventResult:
        return EventResult(index, EventStatus.REJECTED, reason)

    if not isinstance(raw, dict):
        return reject("event must be a JSON object")
    for name in FIELDS:
        if name not in raw:
            return reject(f"missing field {name!r}")
    unknown = set(raw) - {*FIELDS, "weight", "dims"}
    if unknown:
        return reject(f"unknown field {min(map(str, unknown))[:32]!r}")
    stream_id, item, event_id = raw["stream"], raw["item"], raw["event_id"]
    if not isinstance(stream_id, str):
        return reject("stream must be a string")
    spec = streams.get(stream_id)
    if spec is None:
        return reject(f"unknown stream {stream_id[:64]!r}")
    if not isinstance(item, str) or not 0 < len(item.encode()) <= limits.item_len_max or not ITEM_RE.match(item):
        return reject(f"item must be 1-{limits.item_len_max} bytes without control characters")
    if not isinstance(event_id, str) or not 0 < len(event_id.encode()) <= limits.event_id_len_max:
        return reject(f"event_id must be a string of 1-{limits.event_id_len_max} bytes")
    at = _int(raw["at"])
    if at is None or not 0 <= at <= TIME_MS_MAX:
        return reject("at must be Unix time in milliseconds")
    if at > now_ms + limits.future_skew_ms:
        return reject("at is in the future")
    if at < now_ms - spec.lateness_ms:
        return reject(f"too late: the stream accepts events at most {spec.lateness_ms} ms old")
    weight = _int(raw.get("weight", 1))
    if weight is None or not 1 <= weight <= WEIGHT_MAX:
        return reject(f"weight must be an integer between 1 and {WEIGHT_MAX}")
    dims_raw = raw.get("dims")
    dims_raw = {} if dims_raw is None else dims_raw
    if not isinstance(dims_raw, dict):
        return reject("dims must be an object")
    dims = []
    for name, value in dims_raw.items():
        if name not in spec.dimensions:
            return reject(f"stream {stream_id!r} has no dimension {str(name)[:32]!r}")
        if not isinstance(value, str) or not DIM_VALUE_RE.match(value):
            return reject(f"dimension value must match {DIM_VALUE_RE.pattern}")
        dims.append((name, value))
    return TrendEvent(stream_id, item, at, weight, event_id, tuple(sorted(dims)))


def check_batch(entries: Any, limits: TrendingSettings) -> list[Any]:
    from podium.errors import PayloadTooLarge

    if not isinstance(entries, list) or not entries:
        raise BadUserInput("'events' must be a non-empty array")
    if len(entries) > limits.batch_events_max:
        raise PayloadTooLarge(f"batch has {len(entries)} events; the limit is {limits.batch_events_max}")
    return entries

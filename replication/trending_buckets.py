"""Bucket arithmetic (pure): UTC-aligned minute, hour and day buckets; the fewest buckets that
cover a range exactly; relative (`last: "3h"`) and calendar (day, week in a time zone) ranges.

Ranges are minute-granular: `from` is floored and `to` ceiled to a minute, so the answer covers
whole minutes (the effective range is reported with every answer)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from podium.errors import BadUserInput

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TIME_MS_MAX = 2**48 - 1
LAST_RE = re.compile(r"^([1-9][0-9]{0,5})(m|h|d|w)$")
_UNIT_MS = {"m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


class Resolution(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def size_ms(self) -> int:
        return {"minute": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS}[self.value]


class Calendar(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"     # ISO week: Monday 00:00 to the next Monday 00:00, local time


@dataclass(frozen=True, slots=True, order=True)
class Bucket:
    start_ms: int
    resolution: Resolution

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.resolution.size_ms


def bucket_start(at_ms: int, resolution: Resolution) -> int:
    return at_ms - at_ms % resolution.size_ms


def floor_minute(ms: int) -> int:
    return ms - ms % MINUTE_MS


def ceil_minute(ms: int) -> int:
    return -(-ms // MINUTE_MS) * MINUTE_MS


def cover(from_ms: int, to_ms: int, resolutions: Sequence[Resolution]) -> list[Bucket]:
    """The fewest buckets whose union is exactly [from, to), in time order.

    Every size divides the next coarser one and buckets are aligned, so taking the whole coarse
    buckets inside the range and covering the two leftovers with finer ones is optimal: any
    exact cover must split the leftovers at least that finely, and merging finer buckets inside
    a whole coarse one only lowers the count."""
    levels = sorted(set(resolutions), key=lambda r: -r.size_ms)
    if not levels:
        raise BadUserInput("the stream keeps no resolution")
    out: list[Bucket] = []
    _cover(from_ms, to_ms, levels, out)
    return sorted(out)


def _cover(a: int, b: int, levels: list[Resolution], out: list[Bucket]) -> None:
    if a >= b:
        return
    if not levels:
        raise BadUserInput("the range does not align with the stream's finest bucket size")
    level, finer = levels[0], levels[1:]
    size = level.size_ms
    first, last = -(-a // size) * size, b - b % size
    if first >= last:
        _cover(a, b, finer, out)
        return
    out.extend(Bucket(s, level) for s in range(first, last, size))
    _cover(a, first, finer, out)
    _cover(last, b, finer, out)


def horizon_ms(now_ms: int, resolution: Resolution, kept: int) -> int:
    """The start of the oldest bucket of `resolution` still kept at `now_ms`."""
    return bucket_start(now_ms, resolution) - (kept - 1) * resolution.size_ms


def check_retention(buckets: Sequence[Bucket], now_ms: int, kept: Mapping[Resolution, int]) -> None:
    for b in buckets:
        if b.start_ms < horizon_ms(now_ms, b.resolution, kept[b.resolution]):
            raise BadUserInput(f"the range reaches {b.resolution.value} buckets older than the stream keeps "
                               f"({kept[b.resolution]} {b.resolution.value}s): start later or align to "
                               "coarser buckets")


def zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise BadUserInput(f"unknown time zone {str(tz)[:64]!r} (use an IANA name like Europe/Paris)") from exc


def calendar_range(now_ms: int, calendar: Calendar, tz: str | None) -> tuple[int, int]:
    """The current local day or ISO week containing `now_ms`, in `tz`, as UTC ms."""
    zi = zone(tz)
    local = datetime.fromtimestamp(now_ms / 1000, zi)
    day = local.date()
    if calendar is Calendar.WEEK:
        day -= timedelta(days=day.weekday())
    span = 7 if calendar is Calendar.WEEK else 1
    start = datetime(day.year, day.month, day.day, tzinfo=zi)
    end_day = day + timedelta(days=span)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zi)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def parse_last(last: str) -> int:
    """`15m`, `3h`, `7d`, `2w` as milliseconds."""
    m = LAST_RE.match(last) if isinstance(last, str) else None
    if m is None:
        raise BadUserInput("last must look like 15m, 3h, 7d or 2w")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def resolve_range(now_ms: int, *, from_ms: int | None = None, to_ms: int | None = None, last: str | None = None,
                  calendar: Calendar | None = None, tz: str | None = None) -> tuple[int, int]:
    """[from, to) in UTC ms, minute-granular, from exactly one of: from+to, last, calendar."""
    given = sum(x is not None for x in ((from_ms if from_ms is not None else to_ms), last, calendar))
    if given != 1:
        raise BadUserInput("give exactly one of from+to, last, or calendar")
    if last is not None:
        to = floor_minute(now_ms) + MINUTE_MS      # the current, partial minute is included
        return to - parse_last(last), to
    if calendar is not None:
        a, b = calendar_range(now_ms, calendar, tz)
        return floor_minute(a), ceil_minute(b)
    if from_ms is None or to_ms is None:
        raise BadUserInput("from and to go together")
    if not (0 <= from_ms < to_ms <= TIME_MS_MAX):
        raise BadUserInput("need 0 <= from < to (Unix ms)")
    return floor_minute(from_ms), ceil_minute(to_ms)


def widen_to_retention(from_ms: int, now_ms: int, kept: Mapping[Resolution, int]) -> int:
    """For relative and calendar ranges: when `from` is older than the finest buckets kept, move it
    back to the start of the finest resolution still kept at that age (so `last: "30d"` starts on
    the hour 30 days ago); the answer reports the range it covers."""
    for r in sorted(kept, key=lambda r: r.size_ms):
        start = bucket_start(from_ms, r)
        if start >= horizon_ms(now_ms, r, kept[r]):
            return start
    return from_ms      # older than every retention: check_retention says so

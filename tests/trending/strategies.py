"""Hypothesis strategies and the brute-force oracle for trending tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from podium.region.trending.events import TrendEvent, validate_event
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import DAY_MS, Calendar, resolve_range

from podium.config import TrendingSettings

# 2026-03-07 22:00 UTC: the history spans day, hour and minute boundaries, and the US DST switch
# (2026-03-08) in the zones below.
T0 = 1_772_920_800_000
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "Pacific/Chatham", "Europe/Paris"]
LIMITS = TrendingSettings()
DIMS = ("mode", "platform")


@dataclass(frozen=True)
class Arrival:
    now_ms: int
    raw: dict[str, Any]


def zipf_items(n_items: int) -> st.SearchStrategy[str]:
    """Item i drawn with probability ~ 1/(i+1): few hot items, a long tail."""
    weights = [1 / (i + 1) for i in range(n_items)]
    total = sum(weights)
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)

    def pick(u: float) -> str:
        for i, c in enumerate(cumulative):
            if u <= c:
                return f"item-{i}"
        return f"item-{n_items - 1}"

    return st.floats(0, 1).map(pick)


@st.composite
def histories(draw: st.DrawFn, spec: StreamSpec, events_max: int = 300, span_ms: int = 2 * 86_400_000,
              items: int = 40, t0: int = T0) -> list[Arrival]:
    """Arrivals in time order; each event's `at` lies up to 1.5x the lateness before its arrival
    (so some are too late), with duplicate event ids and optional dimensions."""
    n = draw(st.integers(1, events_max))
    item_st = zipf_items(items) if draw(st.booleans()) else st.integers(0, items - 1).map(lambda i: f"item-{i}")
    offsets = sorted(draw(st.lists(st.integers(0, span_ms), min_size=n, max_size=n)))
    out = []
    for i, off in enumerate(offsets):
        now = t0 + off
        delay = draw(st.integers(0, spec.lateness_ms * 3 // 2))
        ev_id = f"ev-{draw(st.integers(0, i))}" if draw(st.integers(0, 9)) == 0 else f"ev-{i}"
        raw: dict[str, Any] = {"stream": spec.id, "item": draw(item_st), "at": now - delay, "event_id": ev_id,
                               "weight": draw(st.sampled_from([1, 1, 1, 2, 5]))}
        dims = {d: draw(st.sampled_from(["a", "b", "c"])) for d in spec.dimensions if draw(st.booleans())}
        if dims:
            raw["dims"] = dims
        out.append(Arrival(now, raw))
    return out


def accepted(spec: StreamSpec, history: Sequence[Arrival]) -> list[TrendEvent | None]:
    """Per arrival, the validated event (None if rejected)."""
    out: list[TrendEvent | None] = []
    for a in history:
        v = validate_event(0, a.raw, {spec.id: spec}, LIMITS, a.now_ms)
        out.append(v if isinstance(v, TrendEvent) else None)
    return out


def oracle(events: Sequence[TrendEvent | None], from_ms: int, to_ms: int,
           dims: dict[str, str] | None = None) -> Counter[str]:
    """Brute force: first occurrence of each event id, `at` in [from, to), matching every filter."""
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for e in events:
        if e is None or e.event_id in seen:
            continue
        seen.add(e.event_id)
        if from_ms <= e.at_ms < to_ms and all(v == dict(e.dims).get(k) for k, v in (dims or {}).items()):
            counts[e.item] += e.weight
    return counts


def ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(((i, c) for i, c in counts.items() if c > 0), key=lambda p: (-p[1], p[0]))


@st.composite
def query_ranges(draw: st.DrawFn, t0: int = T0) -> tuple[int, int, str | None]:
    """Arbitrary ms ranges, or a calendar day/week in a random zone, over a history from t0."""
    if draw(st.booleans()):
        a = t0 - 3 * 3_600_000 + draw(st.integers(0, 2 * DAY_MS + 3 * 3_600_000))
        b = a + draw(st.integers(1, 2 * DAY_MS))
        return a, b, None
    tz = draw(st.sampled_from(ZONES))
    a, b = resolve_range(t0 + draw(st.integers(0, 2 * DAY_MS)), calendar=draw(st.sampled_from(list(Calendar))),
                         tz=tz)
    return a, b, tz

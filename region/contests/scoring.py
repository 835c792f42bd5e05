"""Scoring rules as data: a feed event (a six, a goal, a kill) becomes a point delta for one real
player. Rules are versioned: an event is scored with the version it names (or the newest), so a
mis-scored event is corrected by a compensating event (`voids`) rather than by rewriting history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from podium.region.contests.model import POINT_SCALE

from podium.errors import BadUserInput

EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
EVENT_TYPES_MAX = 100
EVENT_COUNT_MAX = 1000


@dataclass(frozen=True, slots=True)
class ScoringRules:
    version: int
    points: dict[str, int]        # event type -> points per occurrence, in hundredths

    @classmethod
    def from_dict(cls, doc: Any) -> ScoringRules:
        if not isinstance(doc, dict):
            raise BadUserInput("scoring rules must be a JSON object")
        version, points = doc.get("version"), doc.get("points")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 10**6:
            raise BadUserInput("version must be an integer in [1, 1000000]")
        if not isinstance(points, dict) or not 1 <= len(points) <= EVENT_TYPES_MAX:
            raise BadUserInput(f"points must map 1-{EVENT_TYPES_MAX} event types to points")
        table: dict[str, int] = {}
        for kind, value in points.items():
            if not EVENT_ID_RE.match(kind):
                raise BadUserInput("event types are 1-128 characters of A-Z a-z 0-9 _ . : -")
            if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 10**6:
                raise BadUserInput(f"points for {kind} must be a number within ±1000000")
            table[kind] = round(value * POINT_SCALE)
        return cls(version, table)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: str
    match: str
    player: str
    kind: str
    count: int = 1
    voids: str | None = None      # a compensating event: undoes the named event's delta

    @classmethod
    def from_dict(cls, doc: Any) -> FeedEvent:
        if not isinstance(doc, dict):
            raise BadUserInput("an event must be a JSON object")
        fields = {k: doc.get(k) for k in ("id", "match", "player", "kind")}
        for name, value in fields.items():
            if not isinstance(value, str) or not EVENT_ID_RE.match(value):
                raise BadUserInput(f"{name} must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        count = doc.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= EVENT_COUNT_MAX:
            raise BadUserInput(f"count must be an integer in [1, {EVENT_COUNT_MAX}]")
        voids = doc.get("voids")
        if voids is not None and (not isinstance(voids, str) or not EVENT_ID_RE.match(voids)):
            raise BadUserInput("voids must name an event id")
        return cls(fields["id"], fields["match"], fields["player"], fields["kind"], count, voids)  # type: ignore[arg-type]


def delta_of(event: FeedEvent, rules: ScoringRules) -> int:
    """The player's point delta (hundredths) for one event under `rules`."""
    if event.kind not in rules.points:
        raise BadUserInput(f"no scoring rule for event type {event.kind!r} (rules version {rules.version})")
    return rules.points[event.kind] * event.count

"""Notification rules and notifications (pure data): what an admin declares, what a player receives."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from podium.errors import BadUserInput

RULE_ID_LEN_MAX = 64


class RuleKind(StrEnum):
    OVERTAKEN = "overtaken"
    ENTERED_TOP_N = "entered_top_n"
    LEFT_TOP_N = "left_top_n"
    THRESHOLD = "threshold"
    QUARANTINED = "quarantined"     # ops: an entry of the board was held back by the anti-cheat
    BOARD_ENDED = "board_ended"     # a season ended (reset): each player of the final top-`n`, with their final rank
    BOARD_ENDING = "board_ending"   # the season's scheduled end is `window_ms` away: each player of the top-`n`
    CONTEST_LOCKING = "contest_locking"   # `board` is a contest: its entrants, `window_ms` before its deadline


class Metric(StrEnum):
    SCORE = "score"     # fires when a player's score reaches `value` (from below)
    RANK = "rank"       # fires when a player's rank reaches `value` or better (from worse or unranked)


@dataclass(frozen=True, slots=True)
class Rule:
    """One declared rule on one board. Fields a kind does not use keep their defaults.

    `n`: the top-N of entered/left_top_n, and for `overtaken` the cap "players in the top-N";
    `near_ranks`: for `overtaken`, also players whose previous rank is within this many ranks of an
    overtaker's new rank (close rivals); everyone else passed is counted as suppressed, not notified;
    `window_ms`: for `overtaken`, at most one notification per player per window (the rest coalesced).
    """

    id: str
    board: str
    kind: RuleKind
    n: int = 10
    near_ranks: int = 5
    window_ms: int = 60_000
    metric: Metric = Metric.SCORE
    value: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, StrEnum) else v for k, v in asdict(self).items()}


def _int(raw: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadUserInput(f"{name} must be an integer between {low} and {high}", field=name)
    return value


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= RULE_ID_LEN_MAX or not value.isprintable():
        raise BadUserInput(f"{name} must be a printable string of 1 to {RULE_ID_LEN_MAX} characters", field=name)
    return value


def parse_rule(raw: object, n_max: int, window_ms_max: int) -> Rule:
    """A rule from untrusted JSON: every field checked, BadUserInput otherwise."""
    if not isinstance(raw, dict):
        raise BadUserInput("a rule must be a JSON object")
    kind_raw = raw.get("kind")
    if kind_raw not in {k.value for k in RuleKind}:
        raise BadUserInput(f"kind must be one of {sorted(k.value for k in RuleKind)}", field="kind")
    metric_raw = raw.get("metric", "score")
    if metric_raw not in {m.value for m in Metric}:
        raise BadUserInput("metric must be 'score' or 'rank'", field="metric")
    return Rule(
        id=_text(raw, "id"), board=_text(raw, "board"), kind=RuleKind(kind_raw),
        n=_int(raw, "n", 10, 1, n_max), near_ranks=_int(raw, "near_ranks", 5, 0, n_max),
        window_ms=_int(raw, "window_ms", 60_000, 0, window_ms_max), metric=Metric(metric_raw),
        value=_int(raw, "value", 0, -(2**62), 2**62),
    )


def rule_from_dict(d: dict[str, Any]) -> Rule:
    """A rule as stored by Podium itself (already validated)."""
    return Rule(d["id"], d["board"], RuleKind(d["kind"]), d["n"], d["near_ranks"], d["window_ms"],
                Metric(d["metric"]), d["value"])


@dataclass(frozen=True, slots=True)
class Notification:
    """`id` is the idempotency id: stable for one event, so a receiver can drop redeliveries."""

    id: str
    kind: RuleKind
    rule: str
    board: str
    player: str
    at_ms: int
    rank: int | None = None
    previous_rank: int | None = None
    score: int | None = None
    by: tuple[str, ...] = ()          # overtaken: who passed (at most `by_max`, newest first)
    count: int = 0                    # overtaken: how many passes this notification stands for
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # built field by field: `asdict` deep-copies and cost more than the JSON encoding of a
        # notification, which is encoded up to three times (journal, inbox, outbox)
        return {"id": self.id, "kind": str(self.kind), "rule": self.rule, "board": self.board, "player": self.player,
                "at_ms": self.at_ms, "rank": self.rank, "previous_rank": self.previous_rank, "score": self.score,
                "by": list(self.by), "count": self.count, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Notification:
        return cls(d["id"], RuleKind(d["kind"]), d["rule"], d["board"], d["player"], d["at_ms"], d.get("rank"),
                   d.get("previous_rank"), d.get("score"), tuple(d.get("by", ())), d.get("count", 0),
                   d.get("extra", {}))

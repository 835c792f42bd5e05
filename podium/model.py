"""The domain: boards, score entries, ranked entries and per-entry results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from podium.errors import BadUserInput

# Scores are integers, exact up to 2^53 in both directions: a Redis sorted-set score is an IEEE
# double, which represents every integer in that range exactly (and negation stays exact).
SCORE_ABS_MAX = 2**53
# Achievement times are Unix milliseconds in 48 bits (up to the year 10889): 12 hex digits.
ACHIEVED_AT_MAX_MS = 2**48 - 1

BOARD_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PLAYER_ID_RE = re.compile(r"[A-Za-z0-9_.:@-]+")   # use with fullmatch (`$` would let a trailing newline in)


def utf8_len(text: str) -> int | None:
    """The length of `text` in UTF-8 bytes, or None when it has no UTF-8 form (a lone surrogate,
    which a JSON `\\ud800` escape can produce and Redis could not store)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


class Operator(StrEnum):
    BEST = "best"            # keep the best score (highest on desc boards, lowest on asc boards)
    LATEST = "latest"        # keep the most recent achievement
    INCREMENT = "increment"  # add the submitted amount
    DECREMENT = "decrement"  # subtract the submitted amount


class SortOrder(StrEnum):
    DESC = "desc"  # higher is better
    ASC = "asc"    # lower is better (race times)


class Scope(StrEnum):
    REGION = "region"
    GLOBAL = "global"


class Precision(StrEnum):
    EXACT = "EXACT"
    APPROXIMATE = "APPROXIMATE"
    ESTIMATED = "ESTIMATED"


@dataclass(frozen=True, slots=True)
class Board:
    id: str
    operator: Operator = Operator.BEST
    order: SortOrder = SortOrder.DESC
    score_min: int | None = None
    score_max: int | None = None
    scope: Scope = Scope.REGION
    # Anti-cheat: the most a player's score may move within one minute; over it, entries are quarantined.
    max_delta_per_minute: int | None = None
    public_read: bool = True
    # A reset starts a new season (a new key); earlier seasons stay readable.
    season: int = 0
    # HTTP caches may reuse a top-N or page response for this long (Cache-Control: max-age).
    cache_max_age_s: int = 1
    # When the live season is scheduled to end (epoch ms), if it is: `board_ending` notifications
    # count down to it. A reset starts the next season without one.
    season_ends_at_ms: int | None = None

    def __post_init__(self) -> None:
        if not BOARD_ID_RE.match(self.id):
            raise BadUserInput(f"board id {self.id!r} must match {BOARD_ID_RE.pattern}")
        for name in ("score_min", "score_max"):
            value = getattr(self, name)
            if value is not None and not (-SCORE_ABS_MAX <= value <= SCORE_ABS_MAX):
                raise BadUserInput(f"{name} must be within ±2^53")
        if self.score_min is not None and self.score_max is not None and self.score_min > self.score_max:
            raise BadUserInput("score_min must not exceed score_max")
        if self.max_delta_per_minute is not None and self.max_delta_per_minute <= 0:
            raise BadUserInput("max_delta_per_minute must be positive")
        if self.season < 0:
            raise BadUserInput("season must be >= 0")
        if not 0 <= self.cache_max_age_s <= 3600:
            raise BadUserInput("cache_max_age_s must be between 0 and 3600")
        if self.season_ends_at_ms is not None and not 0 <= self.season_ends_at_ms <= SCORE_ABS_MAX:
            raise BadUserInput("season_ends_at_ms must be an epoch time in milliseconds")

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "operator": self.operator.value,
            "order": self.order.value,
            "score_min": self.score_min,
            "score_max": self.score_max,
            "scope": self.scope.value,
            "max_delta_per_minute": self.max_delta_per_minute,
            "public_read": self.public_read,
            "season": self.season,
            "cache_max_age_s": self.cache_max_age_s,
            "season_ends_at_ms": self.season_ends_at_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Board:
        try:
            return cls(
                id=str(data["id"]),
                operator=Operator(str(data.get("operator", "best"))),
                order=SortOrder(str(data.get("order", "desc"))),
                score_min=_opt_int(data.get("score_min")),
                score_max=_opt_int(data.get("score_max")),
                scope=Scope(str(data.get("scope", "region"))),
                max_delta_per_minute=_opt_int(data.get("max_delta_per_minute")),
                public_read=bool(data.get("public_read", True)),
                season=int(data.get("season", 0)),  # type: ignore[call-overload]
                cache_max_age_s=int(data.get("cache_max_age_s", 1)),  # type: ignore[call-overload]
                season_ends_at_ms=_opt_int(data.get("season_ends_at_ms")),
            )
        except KeyError as exc:
            raise BadUserInput(f"board is missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise BadUserInput(f"invalid board: {exc}") from exc


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadUserInput(f"expected an integer, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    """One validated score event from a game server."""

    board: str
    player: str
    score: int
    achieved_at_ms: int
    event_id: str


@dataclass(frozen=True, slots=True)
class RankedEntry:
    rank: int
    player: str
    score: int
    achieved_at_ms: int


class EntryStatus(StrEnum):
    APPLIED = "applied"          # the board changed; `rank` is the new rank
    UNCHANGED = "unchanged"      # the operator kept the old score (e.g. not a new best)
    REJECTED = "rejected"        # invalid; `reason` says why; nothing was written
    QUARANTINED = "quarantined"  # held back by anti-cheat; visible to admins, never ranked
    ACCEPTED = "accepted"        # queued on the event log (stream mode); ranked shortly


@dataclass(slots=True)
class EntryResult:
    index: int
    status: EntryStatus
    reason: str | None = None
    rank: int | None = None
    score: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "status": self.status.value}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.rank is not None:
            out["rank"] = self.rank
        if self.score is not None:
            out["score"] = self.score
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class RankCursor:
    """A position in rank order: the rank key of the last entry seen, not an offset."""

    score: int
    achieved_at_ms: int
    player: str

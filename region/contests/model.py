"""Contest declarations: a match (the pool of real players), team rules, a contest and its prize
table, a team. Every `from_dict` validates hostile input and raises BadUserInput with the reason.

Scores are integers in hundredths of a point (`POINT_SCALE`), so multipliers such as 1.5× stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from podium.errors import BadUserInput

POINT_SCALE = 100                 # scores and multipliers are stored in hundredths
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PLAYERS_PER_MATCH_MAX = 200
TEAM_SIZE_MAX = 30
PRIZE_BANDS_MAX = 1000
CAPACITY_MAX = 50_000_000
AMOUNT_MAX = 10**15               # minor currency units


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise BadUserInput(f"{what} must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadUserInput(f"{what} must be an integer in [{lo}, {hi}]")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadUserInput(f"{what} must be a JSON object")
    return value


def _hundredths(value: Any, what: str, hi: float) -> int:
    """A positive number with at most two decimals (2, 1.5, 8.5), as hundredths (200, 150, 850)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= hi:
        raise BadUserInput(f"{what} must be a number in (0, {hi}]")
    scaled = round(value * POINT_SCALE)
    if abs(scaled - value * POINT_SCALE) > 1e-6:
        raise BadUserInput(f"{what} has more than two decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class MatchPlayer:
    id: str
    role: str
    credits: int        # in hundredths, like scores (8.5 credits = 850)


@dataclass(frozen=True, slots=True)
class Match:
    id: str
    deadline_ms: int                          # entries and team edits lock here (server time)
    players: dict[str, MatchPlayer]

    @classmethod
    def from_dict(cls, doc: Any) -> Match:
        doc = _obj(doc, "match")
        players = doc.get("players")
        if not isinstance(players, list) or not 1 <= len(players) <= PLAYERS_PER_MATCH_MAX:
            raise BadUserInput(f"players must be a list of 1-{PLAYERS_PER_MATCH_MAX} objects")
        pool: dict[str, MatchPlayer] = {}
        for p in players:
            p = _obj(p, "player")
            pid = _id(p.get("id"), "player id")
            if pid in pool:
                raise BadUserInput(f"player {pid} is listed twice")
            pool[pid] = MatchPlayer(pid, _id(p.get("role"), "role"), _hundredths(p.get("credits", 1), "credits", 1000))
        return cls(_id(doc.get("id"), "match id"), _int(doc.get("deadline_ms"), "deadline_ms", 0, 2**48), pool)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "deadline_ms": self.deadline_ms, "players": [
            {"id": p.id, "role": p.role, "credits": p.credits / POINT_SCALE} for p in self.players.values()]}


@dataclass(frozen=True, slots=True)
class TeamRules:
    team_size: int = 11
    credit_cap: int = 100 * POINT_SCALE
    role_min: dict[str, int] = field(default_factory=dict)
    role_max: dict[str, int] = field(default_factory=dict)
    captain_multiplier: int = 2 * POINT_SCALE
    vice_multiplier: int = 150

    @classmethod
    def from_dict(cls, doc: Any) -> TeamRules:
        doc = _obj(doc if doc is not None else {}, "rules")
        role_min = {_id(k, "role"): _int(v, "role minimum", 0, TEAM_SIZE_MAX) for k, v in _obj(doc.get("role_min", {}), "role_min").items()}
        role_max = {_id(k, "role"): _int(v, "role maximum", 0, TEAM_SIZE_MAX) for k, v in _obj(doc.get("role_max", {}), "role_max").items()}
        rules = cls(_int(doc.get("team_size", 11), "team_size", 1, TEAM_SIZE_MAX),
                    _hundredths(doc.get("credit_cap", 100), "credit_cap", 100_000), role_min, role_max,
                    _hundredths(doc.get("captain_multiplier", 2), "captain_multiplier", 100),
                    _hundredths(doc.get("vice_multiplier", 1.5), "vice_multiplier", 100))
        if sum(role_min.values()) > rules.team_size:
            raise BadUserInput("the role minimums add up to more than the team size")
        return rules

    def to_dict(self) -> dict[str, Any]:
        return {"team_size": self.team_size, "credit_cap": self.credit_cap / POINT_SCALE, "role_min": self.role_min,
                "role_max": self.role_max, "captain_multiplier": self.captain_multiplier / POINT_SCALE,
                "vice_multiplier": self.vice_multiplier / POINT_SCALE}


@dataclass(frozen=True, slots=True)
class PrizeBand:
    rank_from: int
    rank_to: int
    amount: int          # per rank, minor currency units


@dataclass(frozen=True, slots=True)
class Contest:
    id: str
    match: str
    capacity: int
    entry_fee: int                       # minor currency units
    prizes: tuple[PrizeBand, ...]
    rules: TeamRules
    entries_per_player_max: int = 1

    @classmethod
    def from_dict(cls, doc: Any) -> Contest:
        doc = _obj(doc, "contest")
        bands_doc = doc.get("prizes", [])
        if not isinstance(bands_doc, list) or len(bands_doc) > PRIZE_BANDS_MAX:
            raise BadUserInput(f"prizes must be a list of at most {PRIZE_BANDS_MAX} bands")
        bands: list[PrizeBand] = []
        for b in bands_doc:
            b = _obj(b, "prize band")
            lo, hi = _int(b.get("rank_from"), "rank_from", 1, CAPACITY_MAX), _int(b.get("rank_to"), "rank_to", 1, CAPACITY_MAX)
            if hi < lo or lo != (bands[-1].rank_to + 1 if bands else 1):
                raise BadUserInput("prize bands must cover ranks 1, 2, … in order, without gaps or overlaps")
            amount = _int(b.get("amount"), "amount", 0, AMOUNT_MAX)
            if bands and amount > bands[-1].amount:
                raise BadUserInput("a better rank never pays less: amounts must not increase down the table")
            bands.append(PrizeBand(lo, hi, amount))
        contest = cls(_id(doc.get("id"), "contest id"), _id(doc.get("match"), "match id"),
                      _int(doc.get("capacity"), "capacity", 1, CAPACITY_MAX),
                      _int(doc.get("entry_fee", 0), "entry_fee", 0, AMOUNT_MAX), tuple(bands),
                      TeamRules.from_dict(doc.get("rules")),
                      _int(doc.get("entries_per_player_max", 1), "entries_per_player_max", 1, 100))
        if bands and bands[-1].rank_to > contest.capacity:
            raise BadUserInput("a prize band goes past the contest's capacity")
        if contest.prize_pool() > contest.capacity * contest.entry_fee and contest.entry_fee > 0:
            raise BadUserInput("the prize pool exceeds what a full contest collects in entry fees")
        return contest

    def prize_pool(self) -> int:
        return sum((b.rank_to - b.rank_from + 1) * b.amount for b in self.prizes)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "match": self.match, "capacity": self.capacity, "entry_fee": self.entry_fee,
                "prizes": [{"rank_from": b.rank_from, "rank_to": b.rank_to, "amount": b.amount} for b in self.prizes],
                "rules": self.rules.to_dict(), "entries_per_player_max": self.entries_per_player_max}


@dataclass(frozen=True, slots=True)
class Team:
    owner: str                 # the (game) player who built the team
    id: str                    # the owner's name for it, unique per owner and match
    match: str
    players: tuple[str, ...]   # sorted, distinct
    captain: str
    vice: str

    @classmethod
    def from_dict(cls, owner: str, doc: Any) -> Team:
        doc = _obj(doc, "team")
        players = doc.get("players")
        if not isinstance(players, list) or not 1 <= len(players) <= TEAM_SIZE_MAX:
            raise BadUserInput(f"players must be a list of 1-{TEAM_SIZE_MAX} player ids")
        ids = tuple(sorted(_id(p, "player id") for p in players))
        return cls(_id(owner, "owner"), _id(doc.get("id"), "team id"), _id(doc.get("match"), "match id"), ids,
                   _id(doc.get("captain"), "captain"), _id(doc.get("vice"), "vice"))

    @property
    def key(self) -> str:
        return f"{self.owner}/{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"owner": self.owner, "id": self.id, "match": self.match, "players": list(self.players),
                "captain": self.captain, "vice": self.vice}

"""Stream anti-cheat, a pure core: per-player entry rate and a per-board anomaly score.

The Lua apply already quarantines a score that moves more than `max_delta_per_minute`; this adds what
needs history across entries. State lives in the worker's memory (bounded), so after a rebalance or
a restart the statistics start over: a verdict may differ on replay, which only ever holds an entry
back (quarantined entries are never ranked) and never counts one twice."""

from __future__ import annotations

import math
from dataclasses import dataclass

from podium.model import ScoreEntry


@dataclass(slots=True)
class _Moments:
    """Running mean and variance (Welford) of one board's scores."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    def z(self, x: float) -> float:
        if self.n < 2 or self.m2 <= 0:
            return 0.0
        return abs(x - self.mean) / math.sqrt(self.m2 / (self.n - 1))


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str          # "rate" or "anomaly"
    detail: dict[str, str]


class AntiCheat:
    def __init__(self, entries_per_minute_max: int, z_max: float, samples_min: int, players_max: int) -> None:
        self.entries_per_minute_max = entries_per_minute_max
        self.z_max = z_max
        self.samples_min = samples_min
        self.players_max = players_max
        self._minute = -1
        self._counts: dict[tuple[str, str], int] = {}
        self._moments: dict[str, _Moments] = {}

    def check(self, entry: ScoreEntry, now_ms: int) -> Verdict | None:
        """None to apply the entry; a verdict to quarantine it. Call once per entry, in log order."""
        minute = now_ms // 60_000
        if minute != self._minute or len(self._counts) >= self.players_max:
            # a new minute (or a full table: the bound wins over precision) starts the counts over
            self._minute, self._counts = minute, {}
        key = (entry.board, entry.player)
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > self.entries_per_minute_max:
            return Verdict("rate", {"count": str(count), "limit": str(self.entries_per_minute_max)})
        moments = self._moments.get(entry.board)
        if moments is None:   # (not setdefault: that would build a _Moments for every entry)
            moments = self._moments[entry.board] = _Moments()
        z = moments.z(entry.score)
        if moments.n >= self.samples_min and z > self.z_max:
            return Verdict("anomaly", {"anomaly": f"{z:.1f}", "limit": f"{self.z_max:.1f}"})
        moments.add(entry.score)
        return None

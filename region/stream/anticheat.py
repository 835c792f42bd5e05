"""Stream anti-cheat, a pure core: per-player entry rate and a per-board anomaly score.

The Lua apply already quarantines a score that moves more than `max_delta_per_minute`; this adds what
needs history across entries. State lives in the worker's memory (bounded), so after a rebalance or
a restart the statistics start over: a verdict may differ on replay, which only ever holds an entry
back (quarantined entries are never ranked) and never counts one twice."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
        flagged = self.check_many(entry.board, [entry], now_ms)
        return flagged[0][1] if flagged else None

    def check_many(self, board: str, entries: Sequence[ScoreEntry], now_ms: int) -> list[tuple[int, Verdict]]:
        """`check` of each of a board's entries in order, as (index, verdict) of those to quarantine.
        The same verdicts as one `check` per entry, with the per-entry work in one loop (the worker
        checks every entry of the log, so a method call and attribute reads per entry added up)."""
        if not entries:
            return []
        minute = now_ms // 60_000
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        counts, rate_max, players_max = self._counts, self.entries_per_minute_max, self.players_max
        moments = self._moments.get(board)
        if moments is None:   # (not setdefault: that would build a _Moments for every call)
            moments = self._moments[board] = _Moments()
        n, mean, m2 = moments.n, moments.mean, moments.m2
        samples_min, z_max = self.samples_min, self.z_max
        flagged: list[tuple[int, Verdict]] = []
        for i, entry in enumerate(entries):
            if len(counts) >= players_max:
                # a full table starts the counts over (the bound wins over precision)
                counts = self._counts = {}
            key = (board, entry.player)
            count = counts.get(key, 0) + 1
            counts[key] = count
            if count > rate_max:
                flagged.append((i, Verdict("rate", {"count": str(count), "limit": str(rate_max)})))
                continue
            x = entry.score
            if n >= samples_min:
                z = 0.0 if n < 2 or m2 <= 0 else abs(x - mean) / math.sqrt(m2 / (n - 1))   # as _Moments.z
                if z > z_max:
                    flagged.append((i, Verdict("anomaly", {"anomaly": f"{z:.1f}", "limit": f"{z_max:.1f}"})))
                    continue
            # Welford's running mean and variance (as _Moments.add)
            n += 1
            d = x - mean
            mean += d / n
            m2 += d * (x - mean)
        moments.n, moments.mean, moments.m2 = n, mean, m2
        return flagged

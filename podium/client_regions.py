"""The game-server client's view of the regions it may write to: an ordered list (the first is home),
which one is in use, which are marked down and until when, and when to try home again.

Pure bookkeeping with an injected clock; the client does the I/O (posting, probing `/readyz`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podium.clock import Clock


@dataclass
class RegionList:
    urls: list[str]
    clock: Clock
    down_s: float = 10.0          # a region that refused a connection is skipped this long
    failback_s: float = 5.0       # while away from home, home is probed at most this often
    active: int = 0
    down_until: dict[int, float] = field(default_factory=dict)
    next_failback_probe: float = 0.0

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("GameServerClient needs at least one region URL")
        if len(set(self.urls)) != len(self.urls):
            raise ValueError("region URLs must be distinct")

    @property
    def url(self) -> str:
        return self.urls[self.active]

    @property
    def at_home(self) -> bool:
        return self.active == 0

    def mark_down(self) -> bool:
        """The active region failed before it could have applied anything: skip it for `down_s`
        and move to the next region not marked down (wrapping around). False when every region
        is down: the caller backs off and starts over from home."""
        now = self.clock.monotonic()
        self.down_until[self.active] = now + self.down_s
        for step in range(1, len(self.urls) + 1):
            candidate = (self.active + step) % len(self.urls)
            if self.down_until.get(candidate, 0.0) <= now:
                self.active = candidate
                self.next_failback_probe = now + self.failback_s
                return True
        self.active = 0
        return False

    def failback_due(self) -> bool:
        """Away from home, and time to see whether home is back."""
        now = self.clock.monotonic()
        if self.at_home or now < self.next_failback_probe:
            return False
        self.next_failback_probe = now + self.failback_s
        return True

    def start_away(self, index: int) -> None:
        """Home is unhealthy at start (the directory says so): begin at `index`, home marked down
        and probed for failback as after a failover."""
        now = self.clock.monotonic()
        self.down_until[0] = now + self.down_s
        self.active = index
        self.next_failback_probe = now + self.failback_s

    def go_home(self) -> None:
        self.down_until.pop(0, None)
        self.active = 0


def directory_order(rows: list[dict[str, Any]], home: str | None) -> tuple[list[str], int]:
    """Region URLs from the global tier's directory (`GET /v1/directory`): the region named `home`
    first (else the directory's first), then the rest in the directory's order (healthy first);
    and the index to start at: home when it is healthy, else the first healthy region (0 when none
    is: the client then finds out by trying)."""
    by_name = {row["region"]: row for row in rows}
    if home is not None and home not in by_name:
        raise ValueError(f"region {home!r} is not in the directory ({', '.join(sorted(by_name)) or 'empty'})")
    ordered = ([by_name[home]] if home else []) + [row for row in rows if row["region"] != home]
    if not ordered:
        raise ValueError("the region directory lists no region")
    start = next((i for i, row in enumerate(ordered) if row.get("healthy")), 0)
    return [str(row["url"]).rstrip("/") for row in ordered], start

"""How far the global tier's merged state trails each region: measured on the data, not on contact.

Every message a region sends (a batch or a heartbeat) reports, per board, a `FeedReport`: the
newest id of its change stream (`head`), the last id it holds acknowledged (`acked`) and the first
id after that (`next_unacked`, 0 when none). The global tier knows the newest id it has merged
(`applied`). Changes are pending iff head > applied; the oldest pending change is then
`next_unacked` when the region's acknowledged position is merged here (HTTP: the region records
an acknowledgement only after the global tier answered, so always), else the change right after
`applied` (Kafka: acknowledged by the broker, maybe not merged yet), whose commit time is no later
than the real oldest pending change's, so the age is never under-stated. Ids encode the commit
time (`seq >> SEQ_SUB_BITS` ms), so the lag is `now - commit time of the oldest pending change`.

A region is stale when that lag exceeds `stale_after_ms`, or when it has not been heard from for
that long (a cut link: what it wrote since is unknown). Sketch uploads, which kept a paused region
looking fresh, no longer exist. Pure: the caller passes `now_ms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podium.replication.changes import SEQ_SUB_BITS


@dataclass(frozen=True, slots=True)
class FeedReport:
    head: int
    acked: int
    next_unacked: int

    @classmethod
    def from_wire(cls, row: Any) -> FeedReport:
        if not isinstance(row, list) or len(row) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in row):
            raise ValueError("a feed report is [head, acked, next_unacked], three non-negative integers")
        return cls(row[0], row[1], row[2])


@dataclass(slots=True)
class Feed:
    """One (region, board) change feed as the global tier sees it."""

    applied: int = 0          # newest change id merged here
    head: int = 0             # newest change id the region reported
    oldest_pending: int = 0   # id of the oldest change reported but not merged (0: none)

    def observe(self, report: FeedReport) -> None:
        self.head = max(self.head, report.head)
        self._recompute(report)

    def merged(self, seq: int) -> None:
        self.applied = max(self.applied, seq)
        self._recompute(None)

    def _recompute(self, report: FeedReport | None) -> None:
        if self.head <= self.applied:
            self.oldest_pending = 0
            return
        if report is not None and report.acked <= self.applied and report.next_unacked:
            self.oldest_pending = max(self.applied + 1, report.next_unacked)
        elif self.oldest_pending <= self.applied:
            self.oldest_pending = self.applied + 1   # conservative until the next report

    def lag_ms(self, now_ms: int) -> int:
        if not self.oldest_pending:
            return 0
        return max(0, now_ms - (self.oldest_pending >> int(SEQ_SUB_BITS)))


@dataclass(slots=True)
class RegionFeeds:
    last_contact_ms: int = 0
    feeds: dict[str, Feed] = field(default_factory=dict)

    def feed(self, board: str) -> Feed:
        return self.feeds.setdefault(board, Feed())

    def lag_ms(self, now_ms: int) -> int:
        """Age of the oldest change the region reported and the global tier has not merged."""
        lags = [f.lag_ms(now_ms) for f in self.feeds.values()]
        return max(lags) if lags else 0

    def is_stale(self, now_ms: int, stale_after_ms: int) -> bool:
        return now_ms - self.last_contact_ms > stale_after_ms or self.lag_ms(now_ms) > stale_after_ms

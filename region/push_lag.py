"""Subscription push lag: how long after a change was committed in Redis the fan-out tick that
pushes it ran. A board's version is "<season>:<change-stream id>" and a stream id starts with the
commit time in ms, so the lag is read off the version the tick saw, with no extra Redis call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from podium.clock import Clock

VersionReader = Callable[[list[str]], Awaitable[dict[str, str]]]


def commit_ms(version: str) -> int | None:
    """The commit time in a version "<season>:<ms>-<seq>"; None for a board with no change yet ("-")."""
    _, _, stream_id = version.partition(":")
    ms, sep, _ = stream_id.partition("-")
    return int(ms) if sep and ms.isdigit() else None


class PushLagProbe:
    """Wraps the fan-out's version reader: each board version seen for the first time is one push."""

    def __init__(self, read_versions: VersionReader, clock: Clock, record: Callable[[float], None],
                 boards_max: int) -> None:
        self.read_versions = read_versions
        self.clock = clock
        self.record = record
        self.boards_max = boards_max   # versions remembered (the boards watched are bounded by subscriptions)
        self.seen: dict[str, str] = {}

    async def __call__(self, board_ids: list[str]) -> dict[str, str]:
        versions = await self.read_versions(board_ids)
        now = self.clock.now_ms()
        for board, version in versions.items():
            if self.seen.get(board) == version:
                continue
            first_sight = board not in self.seen
            self.seen[board] = version
            committed = commit_ms(version)
            # The first version of a newly watched board is not a push: the subscription loads it.
            if not first_sight and committed is not None:
                self.record(max(0.0, float(now - committed)))
        if len(self.seen) > self.boards_max:
            watched = set(board_ids)
            self.seen = {b: v for b, v in self.seen.items() if b in watched}
        return versions

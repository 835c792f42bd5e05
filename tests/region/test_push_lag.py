"""The push-lag probe over the fan-out: a write landing between a subscription's first read and
the fan-out's first tick of that board is a push, and is measured (the ops scrape's missing
sample); the state a subscription loaded is not."""

from __future__ import annotations

import pytest
from podium.region.push_lag import PushLagProbe

from podium.clock import FakeClock
from podium.config import ApiLimits
from podium.fanout import FanOut
from podium.model import RankedEntry

pytestmark = pytest.mark.anyio


async def test_a_write_before_the_first_tick_is_one_push_lag_sample() -> None:
    clock = FakeClock()
    versions = {"arena": f"1:{clock.now_ms() - 5000}-0"}      # the board's last change, 5 s ago
    top = [RankedEntry(1, "ann", 10, 0)]

    async def read_range(board: str, start: int, count: int) -> list[RankedEntry]:
        return top[start:start + count]

    async def read_players(board: str, players: list[str]) -> list[RankedEntry | None]:
        return [None for _ in players]

    async def read_versions(boards: list[str]) -> dict[str, str]:
        return {b: versions[b] for b in boards}

    recorded: list[float] = []
    probe = PushLagProbe(read_versions, clock, recorded.append, boards_max=10)
    hub = FanOut(read_range, read_players, probe, ApiLimits(), clock)
    updates = hub.subscribe_top("arena", 3)
    try:
        await anext(updates)                                       # loaded: not a push
        await hub.tick()
        assert recorded == []
        clock.advance(100)
        top = [RankedEntry(1, "bob", 20, 0), RankedEntry(2, "ann", 10, 0)]
        versions["arena"] = f"1:{clock.now_ms() - 40}-0"           # committed 40 ms before the tick
        await hub.tick()
        assert recorded == [40.0]
        late = hub.subscribe_top("arena", 5)                       # a new watch of a watched board
        await anext(late)
        versions["arena"] = f"1:{clock.now_ms() - 10}-0"           # lands before the next tick
        await hub.tick()
        assert recorded == [40.0, 10.0]
        await late.aclose()
    finally:
        await updates.aclose()


async def test_a_write_between_the_load_and_the_first_tick_is_measured() -> None:
    clock = FakeClock()
    versions = {"arena": f"1:{clock.now_ms() - 5000}-0"}

    async def read_range(board: str, start: int, count: int) -> list[RankedEntry]:
        return [RankedEntry(1, "ann", 10, 0)]

    async def read_players(board: str, players: list[str]) -> list[RankedEntry | None]:
        return [None for _ in players]

    async def read_versions(boards: list[str]) -> dict[str, str]:
        return {b: versions[b] for b in boards}

    recorded: list[float] = []
    hub = FanOut(read_range, read_players, PushLagProbe(read_versions, clock, recorded.append, boards_max=10),
                 ApiLimits(), clock)
    updates = hub.subscribe_top("arena", 3)
    try:
        await anext(updates)
        versions["arena"] = f"1:{clock.now_ms() - 25}-0"           # the write lands before the first tick
        await hub.tick()
        assert recorded == [25.0]
    finally:
        await updates.aclose()

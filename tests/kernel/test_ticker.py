"""The shared fan-out ticker (podium.ticker): ticks at its period until stopped, a failing tick is
logged and the loop goes on, `on_tick` sees every tick's time and outcome; both fan-outs use it."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from podium.clock import SystemClock
from podium.ticker import run_ticks

pytestmark = pytest.mark.anyio


async def test_ticks_until_stopped_and_survives_failing_ticks(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    calls: list[int] = []
    seen: list[tuple[float, bool]] = []

    async def tick() -> None:
        calls.append(len(calls))
        if len(calls) % 2 == 0:
            raise RuntimeError("a bad read")
        if len(calls) >= 7:
            stop.set()

    with caplog.at_level(logging.ERROR, logger="test.ticker"):
        await asyncio.wait_for(run_ticks(tick, 5, SystemClock(), stop, logging.getLogger("test.ticker"), "test",
                                         lambda ms, ok: seen.append((ms, ok))), 10)
    assert len(calls) == 7
    assert [ok for _, ok in seen] == [True, False] * 3 + [True]
    assert all(ms >= 0 for ms, _ in seen)
    assert sum("test tick failed" in r.getMessage() for r in caplog.records) == 3


async def test_period_spaces_the_ticks() -> None:
    stop = asyncio.Event()
    clock = SystemClock()
    times: list[float] = []

    async def tick() -> None:
        times.append(clock.monotonic())
        if len(times) == 4:
            stop.set()

    await asyncio.wait_for(run_ticks(tick, 50, clock, stop, logging.getLogger("test.ticker"), "test"), 10)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3 and all(gap >= 0.045 for gap in gaps), gaps


async def test_a_set_stop_ends_the_loop_without_a_tick() -> None:
    stop = asyncio.Event()
    stop.set()
    calls: list[int] = []

    async def tick() -> None:
        calls.append(1)

    await run_ticks(tick, 1000, SystemClock(), stop, logging.getLogger("test.ticker"), "test")
    assert calls == []

"""The supervisor restarts a failing loop with jittered exponential backoff, reports its state,
gives up after `restart_failures_max` consecutive failures and starts afresh after a healthy run."""

from __future__ import annotations

import asyncio

import pytest

from podium.config import SupervisorSettings
from podium.tasks import LoopState, Supervisor

pytestmark = pytest.mark.anyio


class Flaky:
    """A loop that raises `failures` times, then runs until `stop` is set."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.stop = asyncio.Event()
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"failure {self.calls}")
        self.running.set()
        await self.stop.wait()


def _supervisor(delays: list[float], **overrides: int) -> Supervisor:
    async def sleep(s: float) -> None:
        delays.append(s)

    settings = SupervisorSettings(**{"restart_backoff_ms_initial": 100, "restart_backoff_ms_max": 2000, **overrides})
    return Supervisor(settings, sleep=sleep)


async def test_loop_that_fails_n_times_then_works_is_restarted() -> None:
    delays: list[float] = []
    sup = _supervisor(delays)
    loop = Flaky(failures=5)
    sup.supervise("flaky", loop.run)
    await asyncio.wait_for(loop.running.wait(), 5)
    status = sup.report()["flaky"]
    assert status == {"state": "running", "restarts": 5, "last_error": "ConnectionError: failure 5"}
    assert loop.calls == 6 and len(delays) == 5
    assert all(0 <= d <= 2.0 for d in delays)
    loop.stop.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sup.loops["flaky"].state is LoopState.STOPPED
    await sup.close()


async def test_backoff_is_exponential_capped_and_jittered() -> None:
    sup = _supervisor([])
    caps = [min(2.0, 0.1 * 2**n) for n in range(1, 12)]
    samples = [[sup.delay_s(n) for _ in range(200)] for n in range(1, 12)]
    for cap, draws in zip(caps, samples, strict=True):
        assert max(draws) <= cap + 1e-9
        assert len({round(d, 6) for d in draws}) > 100   # jittered, not one fixed delay
    assert max(samples[-1]) > max(samples[0]) * 5        # and growing


async def test_gives_up_after_failures_max_and_readiness_sees_it() -> None:
    sup = _supervisor([], restart_failures_max=3)
    loop = Flaky(failures=100)
    task = sup.supervise("doomed", loop.run)
    await asyncio.wait_for(task, 5)
    assert loop.calls == 4
    assert sup.loops["doomed"].state is LoopState.FAILED and sup.failed() == ["doomed"]
    await sup.close()


async def test_healthy_run_resets_the_consecutive_count() -> None:
    now = [0.0]
    sup = Supervisor(SupervisorSettings(restart_failures_max=2, healthy_run_ms=1000), monotonic=lambda: now[0],
                     sleep=lambda s: asyncio.sleep(0))
    calls = 0

    async def fails_after_running_long() -> None:
        nonlocal calls
        calls += 1
        if calls <= 6:
            now[0] += 5.0       # each run lasts 5 s (> healthy_run_ms) before it fails
            raise RuntimeError("late failure")

    await asyncio.wait_for(sup.supervise("long", fails_after_running_long), 5)
    assert calls == 7 and sup.loops["long"].state is LoopState.STOPPED and sup.loops["long"].restarts == 6
    await sup.close()


async def test_close_cancels_running_loops() -> None:
    sup = _supervisor([])
    loop = Flaky(failures=0)
    sup.supervise("forever", loop.run)
    await asyncio.wait_for(loop.running.wait(), 5)
    await sup.close()
    assert sup.loops["forever"].state is LoopState.STOPPED

"""The circuit breaker (podium/breaker.py) with a fake clock: window ratio, half-open probes, the
async shell's timeout, and a brute-force oracle of the opening rule."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podium.breaker import Breakers, BreakerState, CircuitBreaker, CircuitOpen
from podium.clock import FakeClock
from podium.config import BreakerSettings, NotificationSettings
from podium.errors import NotFound, Unavailable
from podium.notify_delivery import endpoint_breaker

LIMITS = BreakerSettings(failure_ratio=0.5, calls_min=4, window_calls_max=10, window_ms=1000, open_ms=500)


def test_opens_at_the_failure_ratio_not_before_calls_min() -> None:
    b = CircuitBreaker("redis", LIMITS)
    for ok in (False, False, True):          # 2 of 3 failed, but fewer than calls_min calls
        b.record(ok, 0)
    assert b.state(0) is BreakerState.CLOSED
    b.record(True, 0)                        # 2 of 4 = 0.5: opens
    assert b.state(0) is BreakerState.OPEN and b.trips == 1 and not b.admit(0) and b.rejected == 1


def test_old_outcomes_leave_the_window() -> None:
    b = CircuitBreaker("redis", LIMITS)
    for _ in range(3):
        b.record(False, 0)
    for t in (1000, 1001, 1002):             # the failures at 0 are out of the 1000 ms window
        b.record(True, t)
    b.record(False, 1003)
    assert b.state(1003) is BreakerState.CLOSED     # 1 of 4 in the window


def test_half_open_lets_limited_probes_and_decides() -> None:
    b = CircuitBreaker("redis", LIMITS)
    for _ in range(4):
        b.record(False, 0)
    assert b.state(499) is BreakerState.OPEN and b.retry_after_s(0) == 0.5
    assert b.state(500) is BreakerState.HALF_OPEN
    assert b.admit(500) and not b.admit(500)          # one probe at a time
    b.record(False, 510)                              # the probe failed: a full period again
    assert b.state(510) is BreakerState.OPEN and b.trips == 2 and b.state(1009) is BreakerState.OPEN
    assert b.admit(1010)
    b.record(True, 1011)
    assert b.state(1011) is BreakerState.CLOSED and not b.outcomes


def test_a_late_answer_while_open_decides_nothing() -> None:
    b = CircuitBreaker("redis", LIMITS)
    for _ in range(4):
        b.record(False, 0)
    b.record(True, 10)
    assert b.state(10) is BreakerState.OPEN


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.booleans()), max_size=60),
       st.sampled_from([0.2, 0.5, 0.75, 1.0]), st.integers(1, 6), st.integers(1, 12))
def test_opening_matches_the_oracle(steps: list[tuple[int, bool]], ratio: float, calls_min: int,
                                    window_max: int) -> None:
    """Closed-state outcomes only (no open period ends within the run): the breaker opens at the
    first call after which the window's failures reach the ratio, as recomputed from scratch."""
    calls_min = min(calls_min, window_max)
    limits = BreakerSettings(failure_ratio=ratio, calls_min=calls_min, window_calls_max=window_max,
                             window_ms=200, open_ms=10**9)
    b, now, history = CircuitBreaker("x", limits), 0, []
    expected_open = False
    for gap, ok in steps:
        now += gap
        b.record(ok, now)
        if not expected_open:
            history.append((now, ok))
            window = [o for t, o in history if t > now - 200][-window_max:]
            failed = sum(1 for o in window if not o)
            expected_open = len(window) >= calls_min and failed >= math.ceil(ratio * len(window) - 1e-9)
        assert (b.state(now) is BreakerState.OPEN) == expected_open


def test_the_webhook_breaker_opens_after_failures_in_a_row() -> None:
    b = endpoint_breaker("hook", NotificationSettings(webhook_breaker_failures=2, webhook_breaker_open_ms=1000))
    b.record(False, 0)
    b.record(True, 0)
    b.record(False, 0)
    assert b.state(0) is BreakerState.CLOSED          # a success in between resets the run
    b.record(False, 0)
    assert b.state(0) is BreakerState.OPEN and not b.allows_new(999) and b.allows_new(1000)


@pytest.mark.anyio
async def test_calls_time_out_open_the_breaker_and_then_fail_fast() -> None:
    clock = FakeClock()
    breakers = Breakers(clock, BreakerSettings(calls_min=2, window_calls_max=2, open_ms=1000, call_timeout_ms=20))

    async def hangs() -> None:
        await asyncio.sleep(10)

    for _ in range(2):
        with pytest.raises(Unavailable, match="did not answer within 20 ms"):
            await breakers.call("redis", hangs)
    with pytest.raises(CircuitOpen) as refused:
        await breakers.call("redis", hangs)
    assert refused.value.extensions["retryAfter"] == 1.0
    assert breakers.report()["redis"]["state"] == "open" and breakers.open_names() == ["redis"]
    clock.advance(1000)

    async def answers() -> int:
        return 7

    assert await breakers.call("redis", answers) == 7                 # the half-open probe closes it
    assert breakers.report()["redis"]["state"] == "closed"


@pytest.mark.anyio
async def test_errors_that_are_not_the_dependencys_do_not_count() -> None:
    breakers = Breakers(FakeClock(), BreakerSettings(calls_min=1, window_calls_max=1))

    async def missing() -> None:
        raise NotFound("no such board")

    for _ in range(3):
        with pytest.raises(NotFound):
            await breakers.call("redis", missing)
    assert not breakers.is_open("redis")

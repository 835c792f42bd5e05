"""The circuit breaker with a fake clock."""

from __future__ import annotations

from podium.region.notifications.breaker import Breaker, BreakerState

from podium.clock import FakeClock


def test_opens_after_failures_half_opens_and_closes_on_success() -> None:
    clock, b = FakeClock(), Breaker(failures_max=3, open_ms=1000)
    for _ in range(2):
        b.record(False, clock.now_ms())
    assert b.allows_new(clock.now_ms())
    b.record(False, clock.now_ms())
    assert b.state(clock.now_ms()) is BreakerState.OPEN and not b.allows_new(clock.now_ms())
    clock.advance(999)
    assert not b.allows_new(clock.now_ms())
    clock.advance(1)
    assert b.state(clock.now_ms()) is BreakerState.HALF_OPEN
    b.record(False, clock.now_ms())                  # the trial failed: open again for a full period
    assert b.state(clock.now_ms()) is BreakerState.OPEN and b.trips == 2
    clock.advance(1000)
    b.record(True, clock.now_ms())
    assert b.state(clock.now_ms()) is BreakerState.CLOSED and b.failures == 0


def test_a_success_resets_the_count() -> None:
    b = Breaker(failures_max=2, open_ms=1000)
    b.record(False, 0)
    b.record(True, 0)
    b.record(False, 0)
    assert b.state(0) is BreakerState.CLOSED

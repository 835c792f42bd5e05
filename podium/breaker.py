"""Circuit breakers around remote dependencies (Redis, Kafka, the warm store, the global tier, the
regions, webhook endpoints): one implementation for all of them.

A breaker watches the outcomes of its calls in a window (the last `window_calls_max` calls, none
older than `window_ms`). When at least `calls_min` are in the window and the failed share reaches
`failure_ratio`, it opens: calls fail at once with `CircuitOpen` (503 + Retry-After) instead of
waiting on a dependency that is not answering. After `open_ms` it is half-open: up to
`half_open_probes_max` calls go through as probes; a probe's success closes it (window cleared),
a probe's failure opens it for another `open_ms`.

Why our own module: aiobreaker and purgatory (PyPI) count consecutive failures only; the window
ratio (so a single slow request among many good ones does not trip it) and a pure core driven by
an injected clock (tested deterministically) are a few dozen lines. The state machine is pure
(`admit`, `record`, `state` take `now_ms`); `Breakers.call` is the async shell that also bounds
every call by a timeout, so a hanging dependency (a SIGSTOPped Redis) counts as failing."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from podium.clock import Clock
from podium.config import BreakerSettings as BreakerLimits
from podium.errors import Unavailable

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


# The value of the `podium_circuit_state` gauge: 0 closed, 1 half-open (probing), 2 open.
STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitOpen(Unavailable):
    """The dependency's breaker is open: the call was not attempted."""

    def __init__(self, dependency: str, retry_after_s: float) -> None:
        super().__init__(f"{dependency} is failing (circuit open); retry after {retry_after_s:.1f} s",
                         retryAfter=retry_after_s)
        self.dependency = dependency


class CircuitBreaker:
    """The pure state machine of one dependency (clock passed in as `now_ms`)."""

    def __init__(self, name: str, limits: BreakerLimits) -> None:
        self.name = name
        self.limits = limits
        self.outcomes: deque[tuple[int, bool]] = deque(maxlen=limits.window_calls_max)   # (at ms, ok)
        self.failed = 0              # failed outcomes in `outcomes` (kept as they come and go: O(1) a call)
        self.opened_at_ms: int | None = None
        self.probes = 0              # half-open probes in flight
        self.trips = 0
        self.rejected = 0            # calls refused while open

    def state(self, now_ms: int) -> BreakerState:
        if self.opened_at_ms is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now_ms < self.opened_at_ms + self.limits.open_ms else BreakerState.HALF_OPEN

    def allows_new(self, now_ms: int) -> bool:
        """Whether a call may go now (without taking a probe slot)."""
        return self.state(now_ms) is not BreakerState.OPEN

    def admit(self, now_ms: int) -> bool:
        """Takes the right to make one call: always when closed, a probe slot when half-open."""
        state = self.state(now_ms)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self.probes < self.limits.half_open_probes_max:
            self.probes += 1
            return True
        self.rejected += 1
        return False

    def retry_after_s(self, now_ms: int) -> float:
        if self.opened_at_ms is None:
            return 0.0
        return max(0.1, (self.opened_at_ms + self.limits.open_ms - now_ms) / 1000)

    def record(self, ok: bool, now_ms: int) -> None:
        """The outcome of a call `admit` let through."""
        state = self.state(now_ms)
        if state is BreakerState.OPEN:
            return                    # a late answer to a call made before it opened decides nothing
        if state is BreakerState.HALF_OPEN:
            self.probes = max(0, self.probes - 1)
            if ok:
                self.opened_at_ms, self.probes = None, 0
                self._clear()
            else:
                self._open(now_ms)
            return
        outcomes = self.outcomes
        if len(outcomes) == outcomes.maxlen and not outcomes[0][1]:
            self.failed -= 1          # the append below pushes the oldest out
        outcomes.append((now_ms, ok))
        if not ok:
            self.failed += 1
        oldest = now_ms - self.limits.window_ms
        while outcomes and outcomes[0][0] <= oldest:
            if not outcomes.popleft()[1]:
                self.failed -= 1
        if self.failed and len(outcomes) >= self.limits.calls_min and self.failed >= math.ceil(
                self.limits.failure_ratio * len(outcomes) - 1e-9):
            self._open(now_ms)

    def _open(self, now_ms: int) -> None:
        self.opened_at_ms, self.probes = now_ms, 0
        self.trips += 1
        self._clear()

    def _clear(self) -> None:
        self.outcomes.clear()
        self.failed = 0


def is_dependency_failure(exc: BaseException) -> bool:
    """What counts against a dependency: it was unavailable, timed out or the connection broke.
    Anything else (bad input, not found, a bug of ours) says nothing about the dependency's health."""
    return isinstance(exc, (Unavailable, TimeoutError, ConnectionError, OSError))


class Breakers:
    """Every breaker of a process, by dependency name, with the async shell around calls."""

    def __init__(self, clock: Clock, limits: BreakerLimits | None = None) -> None:
        self.clock = clock
        self.limits = limits or BreakerLimits()
        self._by_name: dict[str, CircuitBreaker] = {}

    def get(self, name: str, limits: BreakerLimits | None = None) -> CircuitBreaker:
        breaker = self._by_name.get(name)
        if breaker is None:
            breaker = self._by_name[name] = CircuitBreaker(name, limits or self.limits)
        return breaker

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._by_name.values()))

    def is_open(self, name: str) -> bool:
        breaker = self._by_name.get(name)
        return breaker is not None and not breaker.allows_new(self.clock.now_ms())

    async def call(self, name: str, fn: Callable[[], Awaitable[T]], *, timeout_ms: int | None = None,
                   failure: Callable[[BaseException], bool] = is_dependency_failure,
                   on_timeout: Callable[[], BaseException] | None = None) -> T:
        """`fn()` through `name`'s breaker, bounded by its call timeout (`timeout_ms` overrides;
        0: unbounded, for calls that block on purpose). Refused at once with CircuitOpen when open;
        a timeout raises `on_timeout()` (default Unavailable) and counts as a failure."""
        breaker = self._by_name.get(name) or self.get(name)
        now_ms = self.clock.now_ms()
        probe = breaker.opened_at_ms is not None and breaker.state(now_ms) is BreakerState.HALF_OPEN
        if not breaker.admit(now_ms):
            raise CircuitOpen(name, breaker.retry_after_s(now_ms))
        timeout = breaker.limits.call_timeout_ms if timeout_ms is None else timeout_ms
        try:
            if timeout > 0:
                # asyncio.timeout bounds the call in this task; wait_for made a task per call (a
                # third of the guard's cost around every Redis command on the read path)
                async with asyncio.timeout(timeout / 1000):
                    result = await fn()
            else:
                result = await fn()
        except TimeoutError as exc:
            breaker.record(False, self.clock.now_ms())
            if on_timeout is not None:
                raise on_timeout() from exc
            raise Unavailable(f"{name} did not answer within {timeout} ms; retry shortly", retryAfter=1.0) from exc
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                if probe:             # the caller went away: free the slot, no verdict
                    breaker.probes = max(0, breaker.probes - 1)
                raise
            breaker.record(not failure(exc), self.clock.now_ms())
            raise
        breaker.record(True, self.clock.now_ms())
        return result

    def report(self) -> dict[str, dict[str, Any]]:
        """Each breaker's state for /readyz."""
        now = self.clock.now_ms()
        return {b.name: {"state": b.state(now).value, "trips": b.trips, "rejected": b.rejected,
                         "retry_after_s": round(b.retry_after_s(now), 1) if b.opened_at_ms is not None else None}
                for b in sorted(self, key=lambda b: b.name)}

    def open_names(self) -> list[str]:
        now = self.clock.now_ms()
        return [b.name for b in self if b.state(now) is BreakerState.OPEN]

"""A per-endpoint circuit breaker (pure, clock passed in): after `failures_max` failed attempts in
a row the endpoint is open for `open_ms` — its worker takes no new events (retries already in
flight keep their own backoff) — then half-open: the next attempt decides, success closes it."""

from __future__ import annotations

from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, failures_max: int, open_ms: int) -> None:
        self.failures_max = max(1, failures_max)
        self.open_ms = open_ms
        self.failures = 0
        self.opened_at_ms: int | None = None
        self.trips = 0

    def state(self, now_ms: int) -> BreakerState:
        if self.opened_at_ms is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now_ms < self.opened_at_ms + self.open_ms else BreakerState.HALF_OPEN

    def allows_new(self, now_ms: int) -> bool:
        return self.state(now_ms) is not BreakerState.OPEN

    def record(self, ok: bool, now_ms: int) -> None:
        if ok:
            self.failures, self.opened_at_ms = 0, None
            return
        self.failures += 1
        half_open = self.state(now_ms) is BreakerState.HALF_OPEN
        if half_open or (self.opened_at_ms is None and self.failures >= self.failures_max):
            self.opened_at_ms = now_ms
            self.trips += 1

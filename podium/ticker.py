"""The fixed-rate loop every fan-out ticks with: call `tick` every `period_ms` (minus what the tick
took), until `stop`. A failed tick is logged and the next one tries again, so one bad read never
ends a live feed (the supervisor in podium.tasks restarts the loop only if the loop itself dies)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from podium.clock import Clock
from podium.errors import Unavailable


async def run_ticks(tick: Callable[[], Awaitable[None]], period_ms: float, clock: Clock, stop: asyncio.Event,
                    log: logging.Logger, what: str,
                    on_tick: Callable[[float, bool], None] | None = None) -> None:
    """`on_tick(spent_ms, ok)` after every tick (metrics, counters)."""
    while not stop.is_set():
        started = clock.monotonic()
        ok = True
        try:
            await tick()
        except Unavailable as exc:   # a store down or its breaker open: expected, no stack trace
            ok = False
            log.warning("%s tick skipped: %s", what, exc)
        except Exception:
            ok = False
            log.exception("%s tick failed", what)
        spent_ms = (clock.monotonic() - started) * 1000
        if on_tick is not None:
            on_tick(spent_ms, ok)
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, (period_ms - spent_ms) / 1000))
        except TimeoutError:
            pass

"""Owned background tasks: a helper to cancel one, and the `Supervisor` every long-running loop
runs under (shipper, sketch publisher, anti-entropy, history writer, snapshot scheduler, fan-out,
replication consumer, stream worker).

A loop is a coroutine function that runs until its stop event is set (then it returns) or fails
(it raises). A failed loop is restarted after a jittered exponential delay (tenacity's
`wait_random_exponential`: full jitter, so many processes hit by one outage do not retry in
step). The delay starts afresh once a loop has run `healthy_run_ms` before failing; after
`restart_failures_max` consecutive failures the loop is left FAILED and `/readyz` says so. Each
loop's state, restart count and last error are read by `/readyz` and the metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenacity import RetryCallState, wait_random_exponential

from podium.config import SupervisorSettings
from podium.invariant import invariant

log = logging.getLogger("podium.tasks")
ERROR_TEXT_LEN_MAX = 300   # characters of the last error kept per loop


CANCEL_WAIT_S = 10.0   # a cancelled task that has not unwound by then is abandoned (logged), never awaited forever


async def cancel_and_wait(task: asyncio.Task[Any] | None, wait_s: float = CANCEL_WAIT_S) -> None:
    """Cancel an owned background task and wait (bounded) until it has finished unwinding. A task
    that swallows its cancellation (a driver turning it into another error, a retry loop) must not
    hang a shutdown: it is cancelled again and, past `wait_s`, abandoned with an error logged."""
    if task is None:
        return
    task.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not task.done() and loop.time() < deadline:
        await asyncio.wait({task}, timeout=min(0.5, max(0.0, deadline - loop.time())))
        if not task.done():
            task.cancel()
    if not task.done():
        log.error("task %s did not stop within %.1f s of its cancellation; abandoned", task.get_name(), wait_s)
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with %r while stopping", task.get_name(), task.exception())


class LoopState(StrEnum):
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    FAILED = "failed"        # gave up after restart_failures_max consecutive failures
    STOPPED = "stopped"      # returned (its stop event was set) or cancelled at shutdown


@dataclass(slots=True)
class LoopStatus:
    name: str
    state: LoopState = LoopState.RUNNING
    restarts: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "restarts": self.restarts, "last_error": self.last_error}


class Supervisor:
    def __init__(self, settings: SupervisorSettings | None = None, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or SupervisorSettings()
        self.sleep = sleep
        self.monotonic = monotonic
        self.loops: dict[str, LoopStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wait = wait_random_exponential(multiplier=self.settings.restart_backoff_ms_initial / 1000,
                                             max=self.settings.restart_backoff_ms_max / 1000)

    def supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Starts `run()` now and restarts it whenever it raises; one loop per name."""
        invariant(name not in self._tasks, f"loop {name!r} is supervised already")
        status = self.loops[name] = LoopStatus(name)
        task = asyncio.create_task(self._keep_running(status, run), name=name)
        self._tasks[name] = task
        return task

    def delay_s(self, consecutive_failures: int) -> float:
        """The jittered delay before restart number `consecutive_failures` (1 = first)."""
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = consecutive_failures
        return float(self._wait(state))

    async def _keep_running(self, status: LoopStatus, run: Callable[[], Awaitable[None]]) -> None:
        s = self.settings
        while True:
            status.state = LoopState.RUNNING
            started = self.monotonic()
            try:
                await run()
            except asyncio.CancelledError:
                status.state = LoopState.STOPPED
                raise
            except Exception as exc:   # any failure is restarted: the point of a supervisor
                if (self.monotonic() - started) * 1000 >= s.healthy_run_ms:
                    status.consecutive_failures = 0
                status.consecutive_failures += 1
                status.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LEN_MAX]
                if status.consecutive_failures > s.restart_failures_max:
                    status.state = LoopState.FAILED
                    log.error("loop %s failed %d times in a row; giving up", status.name,
                              status.consecutive_failures, exc_info=exc)
                    return
                delay = self.delay_s(status.consecutive_failures)
                status.state = LoopState.BACKING_OFF
                log.warning("loop %s failed (%s); restart %d in %.2f s", status.name, status.last_error,
                            status.restarts + 1, delay, exc_info=exc)
                await self.sleep(delay)
                status.restarts += 1
                continue
            status.state = LoopState.STOPPED
            return

    def failed(self) -> list[str]:
        return sorted(n for n, st in self.loops.items() if st.state is LoopState.FAILED)

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: st.to_dict() for name, st in sorted(self.loops.items())}

    async def close(self) -> None:
        """Cancels every loop and waits for all of them to unwind."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

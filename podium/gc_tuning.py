"""Garbage-collector settings for a serving process holding thousands of long-lived sockets.

Why: with CPython's default thresholds (700, 10, 10) a connect storm of 10,000 websocket subscribers
spent about half of the server's CPU in the cyclic collector: every handshake allocates thousands of
objects, and each young collection re-examines the survivors of the last ones (the sockets, streams
and tasks that stay for the connection's life). Measured (`podium bench subscriptions`, 2,000
subscribers, same machine): 5.7 ms of server CPU per connect+subscribe with the defaults, 2.4 ms
with the start-up heap frozen and a 100,000-allocation young threshold.

`gc.freeze()` moves everything allocated at start-up (modules, the schema, settings) into a
permanent generation the collector never scans again; the larger young threshold makes collections
rarer while still collecting short-lived cycles (a request's exception and frames). The older
generations keep their default ratios, so full collections still run as the heap grows."""

from __future__ import annotations

import gc
import time
from typing import Any

GENERATIONS = (0, 1, 2)


class GcTimer:
    """Collections and their CPU seconds per generation (a `gc.callbacks` hook; the collector is
    process-wide, so one timer per process: `GC_TIMER`). Why: py-spy charges a collection to whichever
    line allocated when the threshold was crossed, so the collector's share of a connect storm could
    only be guessed; `podium_gc_cpu_seconds` and the bench's `connect_gc_cpu_ms_each` measure it."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.cpu_s = [0.0, 0.0, 0.0]
        self._started_s = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # the callbacks run on the collecting thread, start then stop, never nested
        if phase == "start":
            self._started_s = time.thread_time()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.cpu_s[generation] += time.thread_time() - self._started_s


GC_TIMER = GcTimer()


def install_gc_timer() -> GcTimer:
    """Hook `GC_TIMER` into the collector (idempotent)."""
    if GC_TIMER not in gc.callbacks:
        gc.callbacks.append(GC_TIMER)
    return GC_TIMER


def tune_gc(gen0_threshold: int, freeze: bool) -> None:
    """Call once the app is built (its objects then count as start-up heap); also times the collector."""
    install_gc_timer()
    if freeze:
        gc.collect()
        gc.freeze()
    if gen0_threshold > 0:
        _g0, g1, g2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, g1, g2)

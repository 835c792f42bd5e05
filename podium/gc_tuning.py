"""Garbage-collector settings for a serving process holding thousands of long-lived sockets.

Why: with CPython's default thresholds (700, 10, 10) a connect storm of 10,000 websocket subscribers
spent about half of the server's CPU in the cyclic collector: every handshake allocates thousands of
objects, and each young collection re-examines the survivors of the last ones (the sockets, streams
and tasks that stay for the connection's life). Measured (`podium bench subscriptions`, 2,000
subscribers, same machine): 5.7 ms of server CPU per connect+subscribe with the defaults, 2.4 ms
with the start-up heap frozen and a 100,000-allocation young threshold.

`gc.freeze()` moves everything allocated at start-up (modules, the schema, settings) into a
permanent generation the collector never scans again; the larger young threshold makes collections
rarer while still collecting short-lived cycles (a request's exception and frames).

`SurvivorFreezer` (api.gc_freeze_survivors) goes one step further. Even so tuned, a 4,000-subscriber
storm spent 16% of the server's CPU in the collector (py-spy --native): a connection's objects
survive their first young collection and are then examined again by every middle and full
collection while the heap grows. After each young or middle collection the survivors are frozen
too, so each is examined once. What is frozen is not examined for cycles, so a closed connection's
cyclic garbage stays until the next full collection: when the frozen heap has grown by
`api.gc_full_after_growth_percent` since the last full collection, the freezer unfreezes everything
and stops freezing, CPython's own rule runs the next full collection in its usual place (the
allocating thread, never another thread), and freezing resumes after it. Cyclic garbage is thus
bounded by that growth over the heap left by the last full collection, and the full collections,
spaced geometrically, examine each object a bounded number of times over a storm."""

from __future__ import annotations

import gc
from typing import Any


class SurvivorFreezer:
    """The gc callback described in the module docstring. `installed` tells tests it is active."""

    def __init__(self, full_after_growth_percent: int) -> None:
        self.ratio = 1 + full_after_growth_percent / 100
        self.base = gc.get_freeze_count()      # frozen objects left by the last full collection
        self.freezing = True
        self.fulls = 0                          # full collections seen (a test and a gauge read it)
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._on_gc)
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._on_gc)
            self.installed = False

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop":
            return
        if info.get("generation") == 2 and not self.freezing:
            # the full collection that examined the unfrozen heap: its survivors are the new base (a
            # "full" one while freezing examined only the few unfrozen objects: it is a young one here)
            self.fulls += 1
            gc.freeze()
            self.base = gc.get_freeze_count()
            self.freezing = True
        elif self.freezing:
            gc.freeze()
            if gc.get_freeze_count() > self.base * self.ratio:
                gc.unfreeze()                   # into the oldest generation: the next full collection sees it all
                self.freezing = False


_FREEZER: SurvivorFreezer | None = None


def tune_gc(gen0_threshold: int, freeze: bool, freeze_survivors: bool = False,
            full_after_growth_percent: int = 100) -> SurvivorFreezer | None:
    """Call once the app is built (its objects then count as start-up heap). Returns the
    survivor freezer when one was installed."""
    global _FREEZER
    if freeze:
        gc.collect()
        gc.freeze()
    if gen0_threshold > 0:
        _g0, g1, g2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, g1, g2)
    if _FREEZER is not None:
        _FREEZER.uninstall()
        _FREEZER = None
    if freeze_survivors:
        _FREEZER = SurvivorFreezer(full_after_growth_percent)
        _FREEZER.install()
    return _FREEZER

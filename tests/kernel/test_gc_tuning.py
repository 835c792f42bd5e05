"""The serving process's GC settings (podium.gc_tuning): start-up heap frozen, young threshold raised."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from podium.config import Settings
from podium.gc_tuning import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_freezes_the_heap_and_raises_only_the_young_threshold() -> None:
    gc.unfreeze()
    _g0, g1, g2 = gc.get_threshold()
    kept = [object() for _ in range(10)]   # alive at start-up: frozen with the rest
    tune_gc(123_456, freeze=True)
    assert gc.get_threshold() == (123_456, g1, g2)
    assert gc.get_freeze_count() > len(kept)


@pytest.mark.usefixtures("restore_gc")
def test_zero_keeps_the_default_threshold_and_no_freeze() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(0, freeze=False)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_serving_defaults_tune_the_collector() -> None:
    api = Settings().api
    assert api.gc_gen0_threshold >= 10_000 and api.gc_freeze_at_start
    assert api.listen_backlog >= 1024


class Node:
    """A weak-referenceable object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


def _tracked(obj: object) -> bool:
    """Whether the collector examines `obj` (gc.get_objects lists every generation, not the frozen)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def freezer_off() -> Iterator[None]:
    before = gc.get_threshold()
    gc.unfreeze()
    yield
    freezer = tune_gc(0, freeze=False)   # uninstalls a freezer the test installed
    assert freezer is None
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("freezer_off")
def test_survivors_of_a_young_collection_are_frozen() -> None:
    freezer = tune_gc(0, freeze=True, freeze_survivors=True, full_after_growth_percent=1000)
    assert freezer is not None and freezer.installed
    survivor = Node()
    assert _tracked(survivor)
    gc.collect(0)
    assert not _tracked(survivor), "a survivor of a young collection was left to later collections"
    assert freezer.freezing and freezer.fulls == 0


@pytest.mark.usefixtures("freezer_off")
def test_frozen_cyclic_garbage_is_reclaimed_once_the_frozen_heap_has_grown() -> None:
    freezer = tune_gc(0, freeze=True, freeze_survivors=True, full_after_growth_percent=10)
    assert freezer is not None
    a, b = Node(), Node()
    a.other, b.other = b, a
    dead = weakref.ref(a)
    gc.collect(0)                        # the cycle survives (still referenced) and is frozen
    del a, b
    gc.collect(0)
    gc.collect(1)
    assert dead() is not None, "frozen garbage is not examined until the heap has grown"
    assert freezer.freezing
    grown = [Node() for _ in range(int(freezer.base * 0.2) + 1000)]   # > 10% growth
    gc.collect(0)                        # frozen, over the growth: everything is unfrozen
    assert not freezer.freezing
    gc.collect()                         # CPython's full collection (here explicit)
    assert dead() is None, "the full collection after the growth did not reclaim the frozen cycle"
    assert freezer.fulls == 1 and freezer.freezing
    assert freezer.base == gc.get_freeze_count() and not _tracked(grown[0])


def test_serving_defaults_freeze_survivors() -> None:
    api = Settings().api
    assert api.gc_freeze_survivors and api.gc_full_after_growth_percent >= 1

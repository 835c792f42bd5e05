"""The serving process's GC settings (podium.gc_tuning): start-up heap frozen, young threshold raised."""

from __future__ import annotations

import gc
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

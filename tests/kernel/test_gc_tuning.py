"""The serving process's GC settings (podium.gc_tuning): start-up heap frozen, young threshold raised."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from podium.config import Settings
from podium.gc_tuning import install_gc_timer, tune_gc
from podium.telemetry import Telemetry


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


def test_the_timer_counts_each_collection_by_generation_once_installed() -> None:
    timer = install_gc_timer()
    assert install_gc_timer() is timer and gc.callbacks.count(timer) == 1   # idempotent
    gc.disable()     # only the two collections below (no automatic one in between)
    try:
        before, cpu_before = list(timer.collections), list(timer.cpu_s)
        gc.collect(1)
        gc.collect(2)
    finally:
        gc.enable()
    assert [a - b for a, b in zip(timer.collections, before, strict=True)] == [0, 1, 1]
    assert all(a >= b for a, b in zip(timer.cpu_s, cpu_before, strict=True))


def test_the_collector_cpu_is_exported_per_generation() -> None:
    install_gc_timer()
    gc.collect(2)
    families = {f.name: f for f in text_string_to_metric_families(Telemetry("t", "r").prometheus_text().decode())}
    samples = {s.labels["generation"]: s.value for s in families["podium_gc_collections"].samples
               if s.name.endswith("_total")}
    assert set(samples) == {"0", "1", "2"} and samples["2"] >= 1
    assert "podium_gc_cpu_seconds" in families

"""`podium bench notifications` in its tiny configuration: both halves measured against their
baselines, every delivery accounted for, the report rows written."""

from __future__ import annotations

from pathlib import Path

from podium.devtools.bench import runner
from podium.devtools.bench.report import markdown
from podium.devtools.bench.scenarios import BenchConfig


def test_bench_notifications_tiny(tmp_path: Path) -> None:
    results, _ = runner.run(["notifications"], BenchConfig.tiny(), mode="tiny", command="test", out_dir=tmp_path,
                            show_progress=False)
    res = results["scenarios"]["notifications"]
    assert res["status"] == "measured", res
    rules, hooks = res["rules"], res["webhooks"]
    assert rules["podium_ticks_per_s"] > 0 and rules["baseline_ticks_per_s"] > 0 and rules["notifications"] > 0
    assert 0 < rules["evaluate_core_share_at_tick"] and rules["tick_ms"] > 0
    assert hooks["deliveries"] == hooks["delivered"] == 3 * 5 and hooks["lost"] == 0
    assert 0 < hooks["lag_from_enqueue_ms"]["p50"] <= hooks["lag_from_enqueue_ms"]["p99"]
    assert "webhook deliveries/s" in markdown(results) and "share of one core" in markdown(results)

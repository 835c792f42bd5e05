"""`podium bench notifications` in its tiny configuration: every part measured against its
baseline, every delivery accounted for, the live region's ingest and inbox queries answered
(no error, no non-2xx), the report rows written."""

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
    live = res["live"]
    assert live["status"] == "measured", live
    ingest = live["ingest"]
    for board in ("plain", "ruled"):
        assert ingest[board]["scores_per_s"] > 0 and ingest[board]["non_2xx"] == ingest[board]["errors"] == 0
        assert ingest[board]["us_cpu_per_score"]["region"] > 0 and ingest[board]["us_cpu_per_score"]["redis"] > 0
    assert "all_cpu_per_score_rules_cost" in ingest
    assert ingest["engine"]["publish_failures"] == 0 and ingest["engine"]["waiting"] == 0
    for path in ("before", "after"):   # the inbox query without and with the Redis window and the plan
        query = live["inbox"][path]
        assert query["requests"] > 0 and query["non_2xx"] == query["errors"] == 0, query
        assert 0 < query["p50_ms"] <= query["p99_ms"] and query["region_cpu_ms_per_query"] > 0
    report = markdown(results)
    assert "webhook deliveries/s" in report and "share of one core" in report
    assert "ingest scores/s, board with" in report and "`notifications` p50/p99" in report

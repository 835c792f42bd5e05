"""`podium bench trending` runs end to end in its tiny configuration (structure, not speed)."""

from __future__ import annotations

from pathlib import Path

from podium.devtools.bench import runner
from podium.devtools.bench.report import markdown
from podium.devtools.bench.scenarios import BenchConfig


def test_trending_bench_measures_podium_and_both_baselines(tmp_path: Path) -> None:
    cfg = BenchConfig.tiny()
    results, _out = runner.run(["trending"], cfg, mode="tiny", command="test", out_dir=tmp_path / "run",
                               show_progress=False)
    res = results["scenarios"]["trending"]
    assert res["status"] == "measured", res
    assert res["events"] == cfg.trending_batches * 10_000 and res["podium_events_per_s"] > 0
    assert res["ack_500"]["batches"] == cfg.trending_ack_batches
    # CPU per event of the region process and of Redis (from /proc: the bench's machines are Linux)
    assert res["cpu_us_per_event"]["region_process"] > 0 and res["cpu_us_per_event"]["redis"] is not None
    assert res["events_per_cpu_s"]["region_process"] > 0
    for stats in res["reads"].values():
        assert 0 < stats["p50_ms"] <= stats["p99_ms"]
    during = res["reads"]["approximate_30d_during_ingest"]      # reads while batches keep arriving
    assert during["requests"] > 0 and during["batches"] == cfg.trending_ack_batches
    assert res["reads"]["approximate_30d"]["cpu_ms_per_read"]["region_process"] is not None
    assert res["ack_500"]["cpu_ms_per_batch"]["region_process"] > 0
    server = res["ack_500"]["server_side"]     # the server's own histogram of POST /v1/events
    assert server["p50_ms"] is not None and 0 < server["p50_ms"] <= server["p99_ms"]
    for b in res["baselines"].values():
        assert b["measured"] and b["items_per_s"] > 0
    assert all(v > 0 for v in res["ratios"].values())
    wide = res["wide_exact_30d"]           # the exact 30-day read of the wide stream, checked by the bench
    assert wide["status"] == "measured" and wide["distinct_items"] == cfg.trending_distinct_items, wide
    assert wide["equals_exact_top10"] and 0 < wide["p50_ms"] <= wide["p99_ms"]
    history = res["history_exact_30d"]     # 30 days of history: the threshold merge against the whole union
    assert history["status"] == "measured" and history["distinct_items"] >= cfg.trending_distinct_items, history
    assert history["equals_exact_top10"] and history["baseline_union"]["equals_exact_top10"] and not history["errors"]
    assert history["baseline_union"]["merge_equals_exact_top10"] and 0 < history["p50_ms"] <= history["p99_ms"]
    world = res["world"]                   # world-wide trending, with its ratios to the same-run baselines
    assert world["status"] == "measured" and world["ship"]["cells"] > 0, world
    assert world["ratios"]["marks_on_vs_off_redis_cpu"] > 0
    assert {"global_vs_region_exact_1h_p99", "global_vs_region_approximate_1h_p99"} <= set(world["ratios"])
    assert "threshold merge" in markdown(results)
    assert "trending ingest" in markdown(results) and "world-wide trending" in markdown(results)

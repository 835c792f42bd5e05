"""`podium bench contests` in a tiny configuration: every phase runs and its figures are
consistent (structure, not speed: speed is only ever stated as a benchmark figure)."""

from __future__ import annotations

from podium.devtools.bench import scenarios
from podium.devtools.bench.scenarios import BenchConfig


def test_bench_contests_runs_every_phase() -> None:
    cfg = BenchConfig.tiny()
    result = scenarios.scenario_contests(cfg)
    assert result["status"] == "measured", result
    compared = result["scripts_vs_before"]       # the previous index/fan-out scripts leave the same board
    assert compared["teams"] == cfg.contest_teams and compared["boards_equal"]
    updated = [[e["teams_updated"] for e in compared[v]["events"]] for v in ("before", "now")]
    assert updated[0] == updated[1] and all(0 < n < cfg.contest_teams for n in updated[0]), updated
    fanout = result["fanout"]
    assert fanout["teams"] == cfg.contest_teams
    assert 0 < fanout["teams_updated"] == fanout["baseline_teams_updated"] < cfg.contest_teams
    live = fanout["live"]
    assert live["events_fed"] > 0 and live["subscribers"] == cfg.contest_subscribers
    assert live["frames"] > 0 and live["baseline_one_entry_frames"] > 0
    assert live["tick_lag_ms_p99"] is not None and live["score_to_board_ms_p99"] is not None
    assert live["overtaken_batched"] and not live["baseline_overtaken_one_by_one"]["overtaken_batched"]
    assert live["baseline_overtaken_one_by_one"]["frames"] > 0
    ws = fanout["live_ws"]           # contestChanged over websockets from a client process
    assert ws["subscribers"] == cfg.contest_subscribers and ws["fanout_events"]["events_fed"] > 0
    assert ws["fanout_events"]["frames"] > 0 and ws["fanout_events"]["tick_lag_ms_p99"] is not None
    assert ws["fanout_events"]["server_cpu_s"] > 0
    assert ws["connected"] == cfg.contest_subscribers      # every subscriber got its first frame
    reached = ws["fanout_events"]["subscribers_per_tick_p50"]
    assert reached is not None and 0 < reached <= cfg.contest_subscribers
    assert ws["fanout_events"]["subscriptions_ended"] >= 0
    joins = result["joins_sqlite"]
    assert joins["joins"] == cfg.contest_joins and joins["escrow_ok"] and joins["ledger_total"] == 0
    unbatched = result["joins_sqlite_baseline_unbatched"]
    assert unbatched["batch_max"] == 1 and unbatched["escrow_ok"] and unbatched["ledger_total"] == 0
    if "joins_http_sqlite" in result:       # wrk installed: joinContest over HTTP, each request a join
        http = result["joins_http_sqlite"]
        assert http["requests"] > 0 and http["non_2xx"] == 0 and http["entries"] >= min(http["requests"], cfg.contest_joins)

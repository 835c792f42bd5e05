"""The bench harness runs every scenario in a tiny configuration, so it cannot rot (structure, not speed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podium.devtools.bench import runner, scenarios, wrk
from podium.devtools.bench.scenarios import BenchConfig


def _baseline_is_explicit(b: dict[str, Any]) -> None:
    assert isinstance(b["measured"], bool)
    if b["measured"]:
        assert b.get("items_per_s", b.get("rps", 0)) > 0
    else:
        assert b["reason"]


def test_every_scenario_runs_in_a_tiny_configuration(tmp_path: Path) -> None:
    cfg = BenchConfig.tiny()
    results, out = runner.run(list(scenarios.DEFAULT_SCENARIOS), cfg, mode="tiny", command="test",
                              out_dir=tmp_path / "run", show_progress=False)

    assert set(results["scenarios"]) == set(scenarios.DEFAULT_SCENARIOS)
    ingest = results["scenarios"]["ingest"]
    assert ingest["status"] == "measured" and ingest["podium_scores_per_s"] > 0
    run = ingest["runs"][0]
    if ingest["load_generator"] == "wrk":
        # every answered batch was accepted whole; batches in flight when wrk stops are applied too
        for r in (run, ingest["ack_latency"]):
            assert r["requests"] > 0 and r["errors"] == 0 and r["non_2xx"] == 0
            assert r["requests"] <= r["accepted"] / r["batch_entries"] <= r["requests"] + r["connections"]
            # the server's own histogram of the route, beside wrk's (interpolated: within its bucket)
            assert r["server_p50_ms"] is not None and r["server_p50_ms"] <= r["server_p99_ms"]
        assert ingest["ack_latency"]["backlog_drain_wait_s"] is not None   # the peak's history backlog was written first
    else:
        assert run["accepted"] == cfg.ingest_batches * scenarios.BATCH_ENTRIES
    for name, b in ingest["baselines"].items():
        _baseline_is_explicit(b)
        assert (ingest["ratios"][name] is None) == (not b["measured"])
    assert not ingest["baselines"]["peer_rank_members_1000"]["measured"]  # the peer is off in the tiny config

    read = results["scenarios"]["read"]
    (board,) = read["boards"]
    assert board["players"] == cfg.read_boards[0]
    for op in ("top100", "page500_600", "rank", "around"):
        assert board["http"][op]["requests"] > 0 and board["http"][op]["errors"] == 0
        assert board["http"][op]["p50_ms"] <= board["http"][op]["p99_ms"]
    for b in board["baselines"].values():
        _baseline_is_explicit(b)
    assert set(board["inprocess"]) == {"top100", "rank", "around", "rank_known"}
    if wrk.available():   # .ci/setup-bench.sh installs it: the native generator's lines and ratios
        for op in ("healthz", *scenarios.QUERIES):
            assert board["http"]["wrk"][op]["requests"] > 0 and board["http"]["wrk"][op]["errors"] == 0, op
        assert all(board["ratios"][f"wrk_{op}_vs_healthz"] is not None for op in scenarios.QUERIES)
        for kind in ("graphql", "rest", "paced_graphql", "paced_rest"):   # GraphQL vs its REST peer, flat and paced
            for op in ("top100", "rank", "around"):
                line = board["http"]["wrk"][f"{kind}_{op}"]
                assert line["requests"] > 0 and line["errors"] == 0 and line["non_2xx"] == 0, (kind, op, line)
        assert board["ratios"]["wrk_graphql_rank_vs_rest"] is not None

    memory = results["scenarios"]["memory"]
    m = memory["boards"][0]
    assert m["players"] == cfg.read_boards[0]
    assert 0 < m["plain_zset"]["bytes_per_player"] < m["podium"]["bytes_per_player"] < m["previous_encoding"]["bytes_per_player"]
    assert m["ratios"]["podium_vs_plain_zset"] == round(m["podium"]["bytes_per_player"] / m["plain_zset"]["bytes_per_player"], 3)

    for name in ("subscriptions", "global"):
        assert results["scenarios"][name]["status"] in ("measured", "not available", "failed")
        if results["scenarios"][name]["status"] != "measured":
            assert results["scenarios"][name].get("reason") or results["scenarios"][name].get("error")

    written = json.loads((out / "results.json").read_text())
    assert written["scenarios"]["ingest"]["podium_scores_per_s"] == ingest["podium_scores_per_s"]
    assert "| ingest" in (out / "results.md").read_text()
    assert written["plots"] and all((out / p).exists() for p in written["plots"])


def test_unknown_scenarios_are_refused(tmp_path: Path) -> None:
    try:
        runner.run(["nope"], BenchConfig.tiny(), mode="tiny", command="test", out_dir=tmp_path, show_progress=False)
    except ValueError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("an unknown scenario must be refused")


def test_loadgen_refuses_non_loopback_unless_explicit() -> None:
    from podium.devtools.bench.loadgen import check_target

    check_target("http://127.0.0.1:8080", explicit=False)
    check_target("http://example.com", explicit=True)
    try:
        check_target("http://example.com", explicit=False)
    except ValueError:
        pass
    else:
        raise AssertionError("a non-loopback default target must be refused")

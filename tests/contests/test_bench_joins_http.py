"""joinContest over HTTP (`contest_joins_http`): every request wrk completed joined its own team on
a real `podium serve` process, with the ledger on SQLite (structure, not speed)."""

from __future__ import annotations

import pytest

from podium.devtools.bench import contest_joins_http, wrk


@pytest.mark.skipif(not wrk.available(), reason="wrk is not installed (.ci/setup-bench.sh)")
def test_joins_over_http_each_request_joins() -> None:
    teams = 400
    result = contest_joins_http.run(teams=teams, seconds=1, connections=8)
    assert result["requests"] > 0 and result["non_2xx"] == 0 and result["errors"] == 0, result
    # a GraphQL error answers 200 too: only entries in the contest show the joins happened
    assert min(result["requests"], teams) <= result["entries"] <= teams, result
    assert result["healthz_per_s"] > 0 and result["server_cpu_us_per_join"] is not None


@pytest.mark.skipif(not wrk.available(), reason="wrk is not installed (.ci/setup-bench.sh)")
def test_joins_ab_each_variant_joins() -> None:
    """The before/after bench (`contest_joins_ab`): GraphQL without the fast path and JWT cache,
    GraphQL with them, and the REST join each answered every request with a join (structure only)."""
    from podium.devtools.bench import contest_joins_ab

    teams = 300
    result = contest_joins_ab.run(teams_per_round=teams, rounds=1, seconds=1, connections=8)
    for name in ("before", "graphql", "rest"):
        got = result[name]
        assert got["requests"] > 0 and got["non_2xx"] == 0 and got["errors"] == 0, (name, got)
        assert min(got["requests"], teams) <= got["entries"] <= teams, (name, got)
    assert result["graphql"]["cpu_per_join_vs_before"] > 0 and result["token_cpu"]["cache_hit_us"] > 0

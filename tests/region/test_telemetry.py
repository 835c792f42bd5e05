"""/metrics exposes the OpenTelemetry instruments in Prometheus text, and they move with traffic."""

from __future__ import annotations

import re

import httpx

from podium.devtools.testing import LiveServer
from tests.region.helpers import create_board, entry, post_scores


def _value(text: str, pattern: str) -> float:
    found = [float(m.group(1)) for m in re.finditer(pattern + r"\s+([0-9.e+]+)", text)]
    return sum(found)


def test_metrics_move_with_traffic(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    before = httpx.get(f"{live_region.url}/metrics").text
    post_scores(live_region.url, {"entries": [entry(board, "ann", 1), entry("nope", "bob", 1)]})
    for _ in range(3):
        httpx.post(f"{live_region.url}/graphql", json={"query": "query Top { boards { id } }"})
    text = httpx.get(f"{live_region.url}/metrics").text
    assert _value(text, r'podium_scores_total\{[^}]*outcome="applied"[^}]*\}') >= _value(before, r'podium_scores_total\{[^}]*outcome="applied"[^}]*\}') + 1
    assert _value(text, r'podium_scores_total\{[^}]*outcome="rejected"[^}]*\}') >= 1
    assert _value(text, r'podium_graphql_operation_duration_milliseconds_count\{[^}]*operation="Top"[^}]*\}') >= 3
    assert "podium_subscriptions" in text
    assert "podium_fanout_tick_duration" in text or "podium_subscriptions" in text
    ready = httpx.get(f"{live_region.url}/readyz").json()
    assert ready["status"] == "ready" and all(loop["state"] == "running" for loop in ready["loops"].values())

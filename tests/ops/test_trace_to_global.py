"""One trace from a region's `POST /v1/scores` to the global tier's merge, across real processes
(region server, stream worker, global tier, each exporting its spans as JSON lines in
`metrics.spans_dir`): the write's W3C context is kept in the change-stream entry (apply.lua), the
shipper's `replication.ship` span continues it and puts its context on the shipped batch (HTTP
header, or the Kafka replication record's headers), and `global.merge` is that span's child.

Direct mode with HTTP shipping, and event-log mode with Kafka shipping (request → broker → worker
→ Redis → replication log → global merge). A batch posted without a context starts its own trace
(the region exports spans), which reaches the global tier as its own trace, never the other's."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer
from tests.region.helpers import create_board, entry, post_scores
from tests.stream.conftest import (  # noqa: F401 - kafka fixtures used here
    kafka_bootstrap,
    kafka_broker,
    region_replicating_over_kafka,
    stream_env,
    wait_until,
)
from tests.stream.test_tracing import spans

SECRET = "replication-secret-for-trace-tests"
CONVERGE_S = 60.0


def _global_top(url: str, board: str) -> dict[str, int]:
    doc = httpx.post(f"{url}/graphql", json={
        "query": "query($b:String!){ leaderboard(board:$b, first:100){ edges { node { player score } } } }",
        "variables": {"b": board}}, timeout=10).json()
    if doc.get("errors"):
        return {}
    return {e["node"]["player"]: e["node"]["score"] for e in doc["data"]["leaderboard"]["edges"]}


def _by_name(spans_dir: str, service: str, name: str) -> list[dict[str, Any]]:
    return [s for s in spans(spans_dir, service) if s["name"] == name]


def _follow_one_trace(region_url: str, global_url: str, spans_dir: str) -> None:
    """Posts a traced and an untraced batch and follows the traced one to the global merge span."""
    board = create_board(region_url, operator="best")
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traced = [entry(board, f"p{i}", 100 + i) for i in range(20)]
    r = post_scores(region_url, {"entries": traced}, headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert r.status_code == 200, r.text
    wait_until(lambda: len(_global_top(global_url, board)) == len(traced), CONVERGE_S)
    untraced = [entry(board, f"q{i}", 1) for i in range(20)]
    assert post_scores(region_url, {"entries": untraced}).status_code == 200
    wait_until(lambda: len(_global_top(global_url, board)) == len(traced) + len(untraced), CONVERGE_S)

    tid = f"0x{trace_id}"
    (request,) = [s for s in _by_name(spans_dir, "podium-region", "POST /v1/scores") if s["context"]["trace_id"] == tid]
    assert request["parent_id"] == f"0x{caller_span}"
    merges = wait_until(lambda: [s for s in _by_name(spans_dir, "podium-global", "global.merge")
                                 if s["context"]["trace_id"] == tid], 30)
    ships = {s["context"]["span_id"]: s for s in _by_name(spans_dir, "podium-region", "replication.ship")}
    for merge in merges:
        assert merge["resource"]["attributes"]["service.name"] == "podium-global"
        assert merge["attributes"]["podium.board"] == board and merge["attributes"]["podium.source_region"] == "eu"
        ship = ships[merge["parent_id"]]          # the merge is the child of the region's ship span ...
        assert ship["context"]["trace_id"] == tid and ship["attributes"]["podium.board"] == board
        assert ship["parent_id"] == request["context"]["span_id"]   # ... which continues the request
    assert sum(m["attributes"]["podium.changes"] for m in merges) >= len(traced)

    # the untraced batch started its own trace at the region; its merge is in that trace, not ours
    roots = {s["context"]["trace_id"]: s for s in _by_name(spans_dir, "podium-region", "POST /v1/scores")}
    others = wait_until(lambda: {s["context"]["trace_id"] for s in _by_name(spans_dir, "podium-global", "global.merge")
                                 if s["attributes"]["podium.board"] == board} - {tid}, 30)
    assert all(t in roots and roots[t]["parent_id"] is None for t in others)


def test_one_trace_from_the_region_request_to_the_global_merge_over_http(redis_server: RedisServer,
                                                                         tmp_path: Path) -> None:
    spans_dir = str(tmp_path / "spans")
    shared = {"PODIUM_REPLICATION__SECRET": SECRET, "PODIUM_REPLICATION__SHIP_INTERVAL_MS": "50",
              "PODIUM_METRICS__SPANS_DIR": spans_dir}
    with RedisServer(tmp_path / "global-redis", appendonly=False) as global_redis:
        # direct mode: no event log (stream_env's bootstrap dropped); the shipper posts to /v1/replicate
        env = {k: v for k, v in stream_env(redis_server.url, "unused", **shared).items() if k != "PODIUM_KAFKA__BOOTSTRAP"}
        global_node = ServerProcess({**env, "REDIS_URL": global_redis.url}, role="global").start()
        region = ServerProcess({**env, "PODIUM_GLOBAL__URL": global_node.url}).start()
        try:
            _follow_one_trace(region.url, global_node.url, spans_dir)
        finally:
            region.stop()
            global_node.stop()


def test_one_trace_from_the_region_request_through_kafka_to_the_global_merge(
        redis_server: RedisServer, kafka_bootstrap: str, tmp_path: Path) -> None:  # noqa: F811
    spans_dir = str(tmp_path / "spans")
    shared = {"PODIUM_REPLICATION__SECRET": SECRET, "PODIUM_REPLICATION__TRANSPORT": "kafka",
              "PODIUM_REPLICATION__SHIP_INTERVAL_MS": "50", "PODIUM_METRICS__SPANS_DIR": spans_dir}
    with (RedisServer(tmp_path / "global-redis", appendonly=False) as global_redis,
          region_replicating_over_kafka(redis_server.url, kafka_bootstrap, global_redis.url,
                                        **shared) as (region, global_node)):
        _follow_one_trace(region.url, global_node.url, spans_dir)
        # the worker applied the traced records under the same trace
        applied = [s for s in _by_name(spans_dir, "podium-worker", "stream.apply")]
        assert {s["context"]["trace_id"] for s in applied} >= {
            s["context"]["trace_id"] for s in _by_name(spans_dir, "podium-global", "global.merge")}

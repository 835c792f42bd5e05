"""A deletion whose change-stream entry is trimmed before it is shipped (the link was down longer
than the stream's cap) is repaired by anti-entropy: real processes (a region and the global tier,
each with its own redis-server), compared with an oracle of the region's writes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from podium.devtools.stack import Stack
from podium.keys import board_keys
from podium.signing import signed_headers

REGION = "us-east"
CHANGES_LEN_MAX = 20          # tiny cap: approximate trimming drops whole stream nodes ...
STREAM_NODE_ENTRIES = 10      # ... of this many entries (set on the region's Redis; default 100)
LATER_WRITES = 80             # separate apply calls after the deletion, enough to trim it away
DEADLINE_S = 30.0


def post(stack: Stack, entries: list[dict[str, Any]]) -> None:
    body = orjson.dumps({"entries": entries})
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    r = httpx.post(f"{stack.region_node(REGION).url}/v1/scores", content=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text


def admin(stack: Stack, action: str) -> dict[str, Any]:
    r = httpx.request("GET" if action == "status" else "POST",
                      f"{stack.region_node(REGION).url}/v1/admin/replication/{action}",
                      headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def global_board(stack: Stack, first: int) -> list[tuple[str, int]]:
    doc = httpx.post(f"{stack.global_node.url}/graphql", json={
        "query": "query($n:Int!){ leaderboard(board:\"arena\", first:$n){ edges { node { player score } } } }",
        "variables": {"n": first}}, timeout=10).json()
    return [] if "errors" in doc else [(e["node"]["player"], e["node"]["score"]) for e in doc["data"]["leaderboard"]["edges"]]


def wait_for(stack: Stack, want: list[tuple[str, int]]) -> list[tuple[str, int]]:
    deadline = time.monotonic() + DEADLINE_S
    got: list[tuple[str, int]] = []
    while time.monotonic() < deadline:
        got = global_board(stack, len(want) + 5)
        if got == want:
            return got
        time.sleep(0.2)
    return got


def ranked(scores: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0].encode()))   # one time for all: ties by id


@pytest.mark.slow
@pytest.mark.timeout(600)   # a stack start and ~100 signed requests on a loaded 2-core machine
def test_anti_entropy_repairs_a_deletion_trimmed_before_it_was_shipped(tmp_path: Path) -> None:
    env = {"PODIUM_INGEST__CHANGES_LEN_MAX": str(CHANGES_LEN_MAX),
           "PODIUM_REPLICATION__ANTI_ENTROPY_INTERVAL_S": "3600",   # the test triggers the repair itself
           "PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000"}
    now = time.time_ns() // 10**6
    oracle = {f"p{i:02d}": 1000 + i for i in range(20)}
    with Stack([REGION], tmp_path, boards=[{"id": "arena"}], extra_env=env) as stack:
        post(stack, [{"board": "arena", "player": p, "score": s, "achieved_at": now, "event_id": p}
                     for p, s in oracle.items()])
        assert wait_for(stack, ranked(oracle)) == ranked(oracle)

        region_redis = redis.Redis.from_url(stack.region_node(REGION).redis.url)
        region_redis.config_set("stream-node-max-entries", STREAM_NODE_ENTRIES)
        admin(stack, "pause")
        doc = httpx.post(f"{stack.region_node(REGION).url}/graphql",
                         json={"query": 'mutation{ deletePlayer(board:"arena", player:"p07") }'},
                         headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=10).json()
        assert doc["data"]["deletePlayer"] is True, doc
        del oracle["p07"]
        for i in range(LATER_WRITES):
            post(stack, [{"board": "arena", "player": f"q{i:03d}", "score": i, "achieved_at": now, "event_id": f"q{i}"}])
            oracle[f"q{i:03d}"] = i
        stream: list[Any] = region_redis.xrange(board_keys("arena", 0).changes)  # type: ignore[assignment]
        region_redis.close()
        assert not any(b"p07\tx" in fields[b"d"] for _, fields in stream), "the deletion must have been trimmed"

        admin(stack, "resume")
        deadline = time.monotonic() + DEADLINE_S
        while admin(stack, "status")["lag_ms"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ("p07", 1007) in global_board(stack, 400), "without a repair the global tier keeps the deleted entry"

        report = admin(stack, "repair")
        assert report["players_reannounced"] > 0, report
        assert wait_for(stack, ranked(oracle)) == ranked(oracle)
        # repaired: the region's digests and the global tier's record of them agree again
        deadline = time.monotonic() + DEADLINE_S
        while admin(stack, "status")["lag_ms"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert admin(stack, "repair")["buckets_repaired"] == 0

"""Three regions and the global tier as real processes on loopback (each with its own
redis-server): writes in every region, one region's link cut while writes continue, healed; the
global board then equals an independent oracle, on a `best` and on an `increment` board."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from podium.devtools.stack import Stack
from podium.signing import signed_headers

REGIONS = ["us-east", "eu-west", "ap-south"]
BOARDS = [{"id": "arena", "operator": "best"}, {"id": "kills", "operator": "increment"}]
CONVERGE_TIMEOUT_S = 30.0


def post(stack: Stack, region: str, entries: list[dict[str, Any]]) -> None:
    url = stack.region_node(region).url
    body = orjson.dumps({"entries": entries})
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    r = httpx.post(f"{url}/v1/scores", content=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert all(x["status"] in ("applied", "unchanged") for x in r.json()["results"]), r.text


def admin(stack: Stack, region: str, action: str) -> dict[str, Any]:
    r = httpx.post(f"{stack.region_node(region).url}/v1/admin/replication/{action}",
                   headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=30)   # a repair scans boards
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def oracle(writes: list[tuple[str, str, int, int]]) -> dict[str, list[tuple[str, int]]]:
    """Independent of the merge code: best = max score (earliest time on ties); increment = sum,
    achieved when the last contribution was (so ties rank by the latest event time, then id)."""
    best: dict[str, tuple[int, int]] = {}
    total: dict[str, int] = defaultdict(int)
    last_ts: dict[str, int] = defaultdict(int)
    for board, player, score, ts in writes:
        if board == "arena":
            cur = best.get(player)
            if cur is None or score > cur[0] or (score == cur[0] and ts < cur[1]):
                best[player] = (score, ts)
        else:
            total[player] += score
            last_ts[player] = max(last_ts[player], ts)
    ranked_best = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0].encode()))
    ranked_total = sorted(total.items(), key=lambda kv: (-kv[1], last_ts[kv[0]], kv[0].encode()))
    return {"arena": [(p, s) for p, (s, _) in ranked_best], "kills": [(p, s) for p, s in ranked_total]}


def global_board(stack: Stack, board: str, first: int) -> list[tuple[str, int]]:
    doc = httpx.post(f"{stack.global_node.url}/graphql", json={
        "query": "query($b:String!,$n:Int!){ leaderboard(board:$b, first:$n){ edges { node { player score precision } } } }",
        "variables": {"b": board, "n": first}}, timeout=5).json()
    if "errors" in doc:
        return []
    nodes = [e["node"] for e in doc["data"]["leaderboard"]["edges"]]
    assert all(n["precision"] == "EXACT" for n in nodes)
    return [(n["player"], n["score"]) for n in nodes]


def wait_converged(stack: Stack, want: dict[str, list[tuple[str, int]]]) -> dict[str, list[tuple[str, int]]]:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    got: dict[str, list[tuple[str, int]]] = {}
    while time.monotonic() < deadline:
        got = {b: global_board(stack, b, len(rows) + 5) for b, rows in want.items()}
        if got == want:
            return got
        time.sleep(0.2)
    return got


def write_round(stack: Stack, rng: random.Random, writes: list[tuple[str, str, int, int]], tag: str, n: int) -> None:
    for region in REGIONS:
        entries = []
        for i in range(n):
            board = rng.choice(["arena", "kills"])
            player = f"p{rng.randrange(40)}"
            score = rng.randrange(1000) if board == "arena" else rng.randrange(1, 10)
            ts = time.time_ns() // 10**6 - rng.randrange(5000)
            entries.append({"board": board, "player": player, "score": score, "achieved_at": ts,
                            "event_id": f"{tag}-{region}-{i}"})
            writes.append((board, player, score, ts))
        post(stack, region, entries)


@pytest.mark.slow
def test_partition_then_heal_converges_to_oracle(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    writes: list[tuple[str, str, int, int]] = []
    with Stack(REGIONS, tmp_path, boards=BOARDS) as stack:
        write_round(stack, rng, writes, "r1", 60)
        assert wait_converged(stack, oracle(writes)) == oracle(writes)

        assert admin(stack, "eu-west", "pause")["paused"] is True
        write_round(stack, rng, writes, "r2", 60)
        time.sleep(1.0)
        cut = oracle(writes)
        partial = {b: global_board(stack, b, len(rows) + 5) for b, rows in cut.items()}
        assert partial != cut, "eu-west's link was cut: its new writes must not have arrived yet"
        status = httpx.get(f"{stack.region_node('eu-west').url}/v1/admin/replication/status",
                           headers={"Authorization": f"Bearer {stack.admin_key}"}).json()
        assert status["lag_ms"], "the paused region reports replication lag"

        admin(stack, "eu-west", "resume")
        write_round(stack, rng, writes, "r3", 30)
        assert wait_converged(stack, oracle(writes)) == oracle(writes)


@pytest.mark.slow
def test_global_restart_and_region_restart_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    writes: list[tuple[str, str, int, int]] = []
    with Stack(REGIONS, tmp_path, boards=BOARDS) as stack:
        write_round(stack, rng, writes, "a", 40)
        stack.stop_node(stack.global_node)          # the global tier is down ...
        write_round(stack, rng, writes, "b", 40)    # ... while regions keep accepting writes
        stack.restart_node(stack.global_node)
        stack.restart_node(stack.region_node("ap-south"))  # shipper resumes from its acked position
        write_round(stack, rng, writes, "c", 20)
        assert wait_converged(stack, oracle(writes)) == oracle(writes)


@pytest.mark.slow
def test_anti_entropy_repairs_a_global_tier_that_lost_its_redis(tmp_path: Path) -> None:
    rng = random.Random(99)
    writes: list[tuple[str, str, int, int]] = []
    with Stack(REGIONS, tmp_path, boards=BOARDS) as stack:
        write_round(stack, rng, writes, "x", 50)
        assert wait_converged(stack, oracle(writes)) == oracle(writes)
        g = stack.global_node
        stack.stop_node(g)
        redis = g.redis
        redis.stop()
        for f in redis.data_dir.iterdir():       # the global tier loses its Redis entirely
            if f.is_file():
                f.unlink()
            else:
                for inner in f.iterdir():
                    inner.unlink()
                f.rmdir()
        redis.start()
        stack.restart_node(g)
        time.sleep(0.5)
        assert global_board(stack, "arena", 10) == []  # nothing there: every shipper had been acked
        reports = [admin(stack, r, "repair") for r in REGIONS]
        assert all(rep["players_reannounced"] > 0 for rep in reports), reports
        assert wait_converged(stack, oracle(writes)) == oracle(writes)
        # once every outbox is drained, each region's digests agree with the global tier's record
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while any(admin(stack, r, "status")["lag_ms"] for r in REGIONS) and time.monotonic() < deadline:
            time.sleep(0.2)
        again = [admin(stack, r, "repair") for r in REGIONS]
        assert [rep["buckets_repaired"] for rep in again] == [0, 0, 0], again


def gql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=10).json()  # type: ignore[no-any-return]


STRONG_Q = ("query($c:Consistency!,$s:Boolean!){ leaderboard(board:\"arena\", first:5, consistency:$c, allowStale:$s)"
            "{ stale edges { node { rank player score precision } } } }")


@pytest.mark.slow
def test_strong_and_session_reads_and_degradation(tmp_path: Path) -> None:
    with Stack(REGIONS, tmp_path, boards=BOARDS, extra_env={"PODIUM_GLOBAL__STALE_AFTER_MS": "1500"}) as stack:
        now = time.time_ns() // 10**6
        post(stack, "us-east", [{"board": "arena", "player": "ann", "score": 50, "achieved_at": now, "event_id": "s1"}])
        assert wait_converged(stack, {"arena": [("ann", 50)]}) == {"arena": [("ann", 50)]}

        # eu-west's link is cut: its new record reaches STRONG reads (live), not EVENTUAL ones
        admin(stack, "eu-west", "pause")
        post(stack, "eu-west", [{"board": "arena", "player": "bob", "score": 90, "achieved_at": now, "event_id": "s2"}])
        eventual = gql(stack.global_node.url, STRONG_Q, {"c": "EVENTUAL", "s": False})["data"]["leaderboard"]
        strong = gql(stack.global_node.url, STRONG_Q, {"c": "STRONG", "s": False})["data"]["leaderboard"]
        assert [(e["node"]["player"], e["node"]["score"]) for e in eventual["edges"]] == [("ann", 50)]
        assert [(e["node"]["rank"], e["node"]["player"], e["node"]["score"], e["node"]["precision"])
                for e in strong["edges"]] == [(1, "bob", 90, "EXACT"), (2, "ann", 50, "EXACT")]
        assert strong["stale"] is False

        # SESSION: ann improves in us-east whose link is also cut; her token brings her own write
        admin(stack, "us-east", "pause")
        body = orjson.dumps({"entries": [{"board": "arena", "player": "ann", "score": 70, "achieved_at": now + 1,
                                          "event_id": "s3"}]})
        headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
        result = httpx.post(f"{stack.region_node('us-east').url}/v1/scores", content=body, headers=headers).json()
        token = result["results"][0]["session"]
        q = ("query($c:Consistency!,$t:String){ player(id:\"ann\"){ entry(board:\"arena\", consistency:$c, session:$t)"
             "{ rank score precision } } }")
        assert gql(stack.global_node.url, q, {"c": "EVENTUAL", "t": None})["data"]["player"]["entry"]["score"] == 50
        session = gql(stack.global_node.url, q, {"c": "SESSION", "t": token})["data"]["player"]["entry"]
        assert session == {"rank": 1, "score": 70, "precision": "EXACT"}
        bad = gql(stack.global_node.url, q, {"c": "SESSION", "t": "!!"})
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        # a region that does not answer: a clear error, or the merged state labelled stale
        admin(stack, "eu-west", "resume")
        admin(stack, "us-east", "resume")
        stack.stop_node(stack.region_node("ap-south"))
        failed = gql(stack.global_node.url, STRONG_Q, {"c": "STRONG", "s": False})
        assert "ap-south" in failed["errors"][0]["message"]
        assert failed["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        degraded = gql(stack.global_node.url, STRONG_Q, {"c": "STRONG", "s": True})["data"]["leaderboard"]
        assert degraded["stale"] is True and degraded["edges"][0]["node"]["player"] in ("ann", "bob")

        # degradation: global reads keep working; the silent region is labelled stale
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            regions = {r["region"]: r["stale"] for r in
                       gql(stack.global_node.url, "{ regions { region stale } }", {})["data"]["regions"]}
            if regions.get("ap-south"):
                break
            time.sleep(0.2)
        assert regions == {"ap-south": True, "eu-west": False, "us-east": False}
        eventual = gql(stack.global_node.url, STRONG_Q, {"c": "EVENTUAL", "s": False})["data"]["leaderboard"]
        assert eventual["stale"] is True and eventual["edges"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_global_top_changed_subscription(tmp_path: Path) -> None:
    import asyncio

    from podium.devtools.ws_client import Subscriber

    with Stack(REGIONS, tmp_path, boards=BOARDS) as stack:
        now = time.time_ns() // 10**6
        await asyncio.to_thread(post, stack, "us-east", [{"board": "arena", "player": "ann", "score": 5,
                                                           "achieved_at": now, "event_id": "g1"}])
        await asyncio.to_thread(wait_converged, stack, {"arena": [("ann", 5)]})
        sub = await Subscriber(stack.global_node.url.replace("http", "ws") + "/graphql").connect()
        try:
            await sub.subscribe("subscription { topChanged(board:\"arena\", n:3){ full entries { player score precision } "
                                "changes { kind player rank } } }")
            first = (await asyncio.wait_for(sub.next(), 10))["data"]["topChanged"]
            assert first["full"] and first["entries"] == [{"player": "ann", "score": 5, "precision": "EXACT"}]
            await asyncio.to_thread(post, stack, "ap-south", [{"board": "arena", "player": "zed", "score": 9,
                                                               "achieved_at": now, "event_id": "g2"}])
            update = (await asyncio.wait_for(sub.next(), 10))["data"]["topChanged"]
            assert {(c["kind"], c["player"], c["rank"]) for c in update["changes"]} == {
                ("ENTERED", "zed", 1), ("MOVED", "ann", 2)}
        finally:
            await sub.close()

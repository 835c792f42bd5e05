"""`podium bench notifications` on a live region (its own process; wrk is the load), each figure next
to a baseline measured in the same run:

3. Ingest with and without rules. Two boards of `players` players ("plain", "ruled"); `rules` rules
   (overtaken, entered/left top-N, rank thresholds) on "ruled" only. Closed-loop wrk posts signed
   1000-entry batches into each board in turn, `rounds` times (plain, ruled, plain, ruled, ...), so
   both see the same machine. The engine runs in the region process (it follows the ruled board's
   top slice on every fan-out tick and writes what it finds to the warm inbox), so its cost shows in
   scores/s and in scores per region CPU-second, ruled over plain.
4. Inbox reads. `inbox_players` players with `notes_per_player` notifications each in the region's
   inbox, then `notifications(first: 20)` with a random player's JWT, paced at `query_rps` by wrk
   (`read_wrk.paced`); baseline: /healthz at the same pace. With `compare_redis`, a second region
   whose inbox is the Redis adapter (inbox_warm=false) answers the same load: does a hot Redis
   inbox pay?
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from podium.devtools.bench import ingest_wrk, read_wrk, wrk
from podium.devtools.bench.stack import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET, BenchStack
from podium.signing import signed_headers

JWT_SECRET = "bench-jwt-secret-0123456789abcdef"
BOARDS = ("plain", "ruled")
SEED_BATCH_ENTRIES = 1000
INGEST_CONNECTIONS = 4
QUERY_CONNECTIONS = 16        # paced: each waits 16/rate s after an answer, so one slow answer delays little
TOKENS_MAX = 1000             # players the query load picks from (one JWT each, in the Lua script)
LIVE_WITHIN_S = 60.0
ENGINE_DRAIN_S = 30.0         # notifications the last run derived are written within this after wrk stops
INBOX_QUERY = ("query($p:String){notifications(first:20, player:$p){edges{cursor node{id kind board rank read}}"
               "hasNextPage unreadCount}}")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

_QUERY_SCRIPT = """
wrk.method = "POST"
local requests = {}
init = function(args)
  for _, pair in ipairs(%(pairs)s) do
    table.insert(requests, wrk.format("POST", "/graphql", {["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. pair[1]}, pair[2]))
  end
end
request = function()
  return requests[math.random(1, #requests)]
end
"""


def _env(inbox_warm: bool, rules: int) -> dict[str, str]:
    return {"PODIUM_JWT_SECRET": JWT_SECRET, "PODIUM_BOARDS": json.dumps([{"id": b} for b in BOARDS]),
            "PODIUM_NOTIFICATIONS__RULES_PER_BOARD_MAX": str(max(50, rules)),
            "PODIUM_NOTIFICATIONS__INBOX_WARM": "true" if inbox_warm else "false"}


def _seed_board(url: str, board: str, players: int) -> None:
    now = time.time_ns() // 1_000_000
    with httpx.Client(base_url=url, timeout=60) as client:
        for n, lo in enumerate(range(0, players, SEED_BATCH_ENTRIES)):
            body = orjson.dumps({"entries": [
                {"board": board, "player": f"p{i}", "score": (i * 7919) % 10**9, "achieved_at": now - 1000,
                 "event_id": f"seed-{board}-{i}"} for i in range(lo, min(players, lo + SEED_BATCH_ENTRIES))]})
            ts = now + n
            r = client.post("/v1/scores", content=body,
                            headers=signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", ts, body))
            r.raise_for_status()


def _declare_rules(url: str, board: str, count: int) -> None:
    kinds = ("overtaken", "entered_top_n", "left_top_n", "threshold")
    for i in range(count):
        kind, n = kinds[i % len(kinds)], 10 + (i % 9) * 10
        rule: dict[str, Any] = {"id": f"r{i}", "board": board, "kind": kind}
        rule.update({"metric": "rank", "value": n} if kind == "threshold" else
                    {"n": min(n, 94), "near_ranks": 5, "window_ms": 60_000})
        httpx.post(f"{url}/v1/admin/notification-rules", json=rule, headers=ADMIN, timeout=30).raise_for_status()
    deadline = time.monotonic() + LIVE_WITHIN_S
    while time.monotonic() < deadline:
        rows = [r for r in httpx.get(f"{url}/v1/admin/notification-rules", headers=ADMIN, timeout=30).json()["rules"]
                if r["board"] == board]
        if len(rows) == count and all(r["live"] for r in rows):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the {count} rules on {board} were not live within {LIVE_WITHIN_S} s")


def _ingest(stack: BenchStack, players: int, rules: int, rounds: int, seconds: float) -> dict[str, Any]:
    assert stack.process is not None
    pid = stack.process.pid
    for board in BOARDS:
        _seed_board(stack.url, board, players)
    _declare_rules(stack.url, "ruled", rules)
    bodies = max(20, int(200_000 * seconds / 1000))
    for board in BOARDS:      # warm-up (scripts, registry, the engine's first tops), not counted
        ingest_wrk.run(stack.url, None, entries=1000, bodies=5, seconds=1, connections=1, board=board, players=players)
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in BOARDS}
    for _ in range(rounds):
        for board in BOARDS:
            runs[board].append(ingest_wrk.run(stack.url, pid, entries=1000, bodies=bodies, seconds=seconds,
                                              connections=INGEST_CONNECTIONS, board=board, players=players))

    def total(board: str, key: str) -> float:
        return sum(float(r.get(key) or 0) for r in runs[board])

    out: dict[str, Any] = {"players": players, "rules": rules, "rounds": rounds, "seconds_per_run": seconds}
    for board in BOARDS:
        scores = sum(r["scores_per_s"] * r["seconds"] for r in runs[board])
        cpu = total(board, "region_cpu_s")
        out[board] = {"scores_per_s": round(scores / total(board, "seconds"), 1) if total(board, "seconds") else 0.0,
                      "scores_per_region_cpu_s": round(scores / cpu, 1) if cpu else None,
                      "non_2xx": int(total(board, "non_2xx")), "errors": int(total(board, "errors")),
                      "runs_scores_per_s": [r["scores_per_s"] for r in runs[board]]}
    plain, ruled = out["plain"], out["ruled"]
    out["throughput_ruled_vs_plain"] = round(ruled["scores_per_s"] / plain["scores_per_s"], 3) if plain["scores_per_s"] else None
    if plain["scores_per_region_cpu_s"] and ruled["scores_per_region_cpu_s"]:
        out["cpu_per_score_rules_cost"] = round(1 - ruled["scores_per_region_cpu_s"] / plain["scores_per_region_cpu_s"], 4)
    out["engine"] = _engine_drained(stack.url, ENGINE_DRAIN_S)
    return out


def _engine_drained(url: str, deadline_s: float) -> dict[str, Any]:
    """The engine's counters once every notification of the runs is written (or at the deadline):
    the last run's tick may still be writing when wrk stops, so `waiting` right then says nothing."""
    start = time.monotonic()
    while True:
        engine: dict[str, Any] = httpx.get(f"{url}/v1/admin/notification-rules", headers=ADMIN, timeout=30).json()["engine"]
        if not engine.get("waiting") or time.monotonic() - start > deadline_s:
            engine["drain_s"] = round(time.monotonic() - start, 2)
            return engine
        time.sleep(0.2)


async def _seed_inbox(stack: BenchStack, inbox_warm: bool, players: int, per_player: int) -> None:
    from podium.notify_rules import Notification, RuleKind
    from podium.redis_client import connect
    from podium.region.notifications.inbox import InboxStore
    from podium.region.notifications.inbox_redis import RedisInbox
    from podium.region.notifications.inbox_sqlite import SqliteInbox

    redis = connect(stack.redis.url) if not inbox_warm else None
    store: InboxStore = (SqliteInbox(Path(stack.tmp.name) / "data" / "notifications.sqlite3", 200) if redis is None
                         else RedisInbox(redis, 200, 1000))
    await store.open()
    try:
        notes = [Notification(f"seed:q{p}:{k}", RuleKind.ENTERED_TOP_N, "r", "plain", f"q{p}", 1_000 + k, rank=k + 1)
                 for p in range(players) for k in range(per_player)]
        chunk = 5000 if redis is None else per_player     # Redis: one call per note, players side by side
        for lo in range(0, len(notes), 5000):
            await asyncio.gather(*(store.append(notes[at:at + chunk]) for at in range(lo, min(len(notes), lo + 5000), chunk)))
    finally:
        await store.close()
        if redis is not None:
            await redis.aclose()


def _query_script(players: int) -> str:
    pairs = []
    for p in range(min(players, TOKENS_MAX)):
        token = jwt.encode({"sub": f"q{p}", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
        body = json.dumps({"query": INBOX_QUERY, "variables": {"p": f"q{p}"}}, separators=(",", ":"))
        pairs.append("{" + json.dumps(token) + "," + json.dumps(body) + "}")
    return _QUERY_SCRIPT % {"pairs": "{" + ",".join(pairs) + "}"}


def _queries(stack: BenchStack, inbox_warm: bool, players: int, per_player: int, rps: float,
             seconds: float) -> dict[str, Any]:
    asyncio.run(_seed_inbox(stack, inbox_warm, players, per_player))
    check = httpx.post(f"{stack.url}/graphql", timeout=30, json={"query": INBOX_QUERY, "variables": {"p": "q0"}},
                       headers={"Authorization": "Bearer " + jwt.encode({"sub": "q0", "exp": int(time.time()) + 600},
                                                                          JWT_SECRET, algorithm="HS256")}).json()
    edges = check.get("data", {}).get("notifications", {}).get("edges", [])
    if "errors" in check or len(edges) != min(20, per_player):
        raise RuntimeError(f"the inbox query does not answer as seeded: {str(check)[:300]}")
    script = read_wrk.paced(_query_script(players), rps, QUERY_CONNECTIONS)
    query = wrk.run(stack.url, script, seconds=seconds, connections=QUERY_CONNECTIONS)
    healthz = wrk.run(f"{stack.url}/healthz", read_wrk.paced("", rps, QUERY_CONNECTIONS), seconds=seconds,
                      connections=QUERY_CONNECTIONS)
    return {"store": "warm (sqlite)" if inbox_warm else "redis", "players": players, "per_player": per_player,
            "target_rps": rps, "query": query, "healthz": healthz}


def scenario_live(players: int, rules: int, rounds: int, seconds: float, inbox_players: int, notes_per_player: int,
                  query_rps: float, query_seconds: float, compare_redis: bool) -> dict[str, Any]:
    if not wrk.available():
        return {"status": "skipped", "reason": "wrk is not installed (.ci/setup-bench.sh)"}
    with BenchStack(_env(True, rules)) as stack:
        ingest = _ingest(stack, players, rules, rounds, seconds)
        inbox = {"warm": _queries(stack, True, inbox_players, notes_per_player, query_rps, query_seconds)}
    if compare_redis:
        with BenchStack(_env(False, rules)) as stack:
            inbox["redis"] = _queries(stack, False, inbox_players, notes_per_player, query_rps, query_seconds)
    return {"status": "measured", "ingest": ingest, "inbox": inbox}


def markdown_rows(res: dict[str, Any]) -> list[str]:
    if res.get("status") != "measured":
        return [f"| notifications, live region | not measured ({res.get('error', res.get('reason', ''))}) | | | |"]
    i = res["ingest"]
    rows = [
        (f"| ingest scores/s, board with {i['rules']} rules ({i['players']:,} players, {i['rounds']} alternating runs) | "
         f"{i['ruled']['scores_per_s']:,.0f} | same board size, no rules | {i['plain']['scores_per_s']:,.0f} | "
         f"{i['throughput_ruled_vs_plain']} |"),
        (f"| ingest scores per region CPU-second, with rules | {i['ruled']['scores_per_region_cpu_s'] or 0:,.0f} | "
         f"no rules | {i['plain']['scores_per_region_cpu_s'] or 0:,.0f} | rules cost {i.get('cpu_per_score_rules_cost')} |"),
    ]
    for q in res["inbox"].values():
        rows.append(f"| `notifications` query p50/p99 (ms) at {q['target_rps']:.0f} req/s target, inbox {q['store']} "
                    f"(achieved {q['query']['rps']:.0f} req/s) | {q['query']['p50_ms']}/{q['query']['p99_ms']} | "
                    f"/healthz at the same pace | {q['healthz']['p50_ms']}/{q['healthz']['p99_ms']} | |")
    return rows

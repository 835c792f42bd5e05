"""`podium bench notifications` on a live region (its own process; wrk is the load), each figure next
to a baseline measured in the same run:

3. Ingest with and without rules. Two boards of `players` players ("plain", "ruled"); `rules` rules
   (overtaken, entered/left top-N, rank thresholds) on "ruled" only. Closed-loop wrk posts signed
   1000-entry batches into each board in turn, `rounds` times (plain, ruled, plain, ruled, ...), so
   both see the same machine. The engine runs in the region process (it follows the ruled board's
   top slice on every fan-out tick and writes what it finds to the warm inbox), so its cost shows in
   scores/s and in scores per region CPU-second, ruled over plain.
4. Inbox reads. `inbox_players` players with `notes_per_player` notifications each in the region's
   warm inbox, the queried players' first pages read once, then `notifications(first: 20, after,
   unreadOnly)` (a random one of three pages) with a random player's JWT, paced at `query_rps` by
   wrk (`read_wrk.paced`), on two regions side by side, in alternating runs: "before" (no Redis
   window, no compiled plan: the warm store read per request through general GraphQL execution)
   and "after" (the defaults: the Redis window of each player's newest and the compiled plan);
   baseline: /healthz at the same pace; each run's region CPU per query. With `compare_redis`, a
   third region whose inbox is the Redis adapter (inbox_warm=false) answers the same load.
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
# The player's JWT names the inbox; each request is one of three pages (random): the first page, the
# second (`after` the first page's endCursor) and the first unread-only page (each seeded inbox has
# its newest READ_PER_PLAYER notifications read, so that page differs).
INBOX_QUERY = ("query($a:String,$u:Boolean){notifications(first:20, after:$a, unreadOnly:$u){edges{cursor "
               "node{id kind board rank read}} hasNextPage endCursor unreadCount}}")
READ_PER_PLAYER = 5
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


# The inbox read paths compared in one run: settings of each region.
INBOX_BEFORE = {"PODIUM_API__GRAPHQL_COMPILED_PLANS": "false", "PODIUM_NOTIFICATIONS__INBOX_WINDOW_LEN": "0"}
INBOX_AFTER: dict[str, str] = {}
QUERY_ROUNDS = 2
IDLE_SAMPLE_S = 2.0           # before each query run: the region's CPU without queries, subtracted per query


# The ingest half runs as `podium up` does: the history writer, and with it the inbox drain
# (notifications.inbox_writer=drain), in a process of its own.
SEPARATE_WRITER = {"PODIUM_HISTORY__WRITER_PLACEMENT": "separate"}
INBOX_WRITERS = ("engine", "drain")


def _env(inbox_warm: bool, rules: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"PODIUM_JWT_SECRET": JWT_SECRET, "PODIUM_BOARDS": json.dumps([{"id": b} for b in BOARDS]),
            "PODIUM_NOTIFICATIONS__RULES_PER_BOARD_MAX": str(max(50, rules)),
            "PODIUM_NOTIFICATIONS__INBOX_WARM": "true" if inbox_warm else "false", **(extra or {})}


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
    wpid = stack.writer.pid if stack.writer is not None else None
    for _ in range(rounds):
        for board in BOARDS:
            w0 = ingest_wrk.cpu_seconds(wpid) if wpid else 0.0
            run = ingest_wrk.run(stack.url, pid, entries=1000, bodies=bodies, seconds=seconds,
                                 connections=INGEST_CONNECTIONS, board=board, players=players, redis_url=stack.redis.url)
            run["writer_cpu_s"] = round(ingest_wrk.cpu_seconds(wpid) - w0, 3) if wpid else 0.0
            runs[board].append(run)

    def total(board: str, key: str) -> float:
        return sum(float(r.get(key) or 0) for r in runs[board])

    out: dict[str, Any] = {"players": players, "rules": rules, "rounds": rounds, "seconds_per_run": seconds}
    for board in BOARDS:
        scores = sum(r["scores_per_s"] * r["seconds"] for r in runs[board])
        cpu = total(board, "region_cpu_s")
        every = cpu + total(board, "redis_cpu_s") + total(board, "writer_cpu_s")
        out[board] = {"scores_per_s": round(scores / total(board, "seconds"), 1) if total(board, "seconds") else 0.0,
                      "scores_per_region_cpu_s": round(scores / cpu, 1) if cpu else None,
                      # region + redis-server + history writer: ingest is bound by Redis' apply script,
                      # so the region's CPU alone overstates what the rules take from ingest throughput
                      "us_cpu_per_score": {"region": round(1e6 * cpu / scores, 2) if scores else None,
                                           "redis": round(1e6 * total(board, "redis_cpu_s") / scores, 2) if scores else None,
                                           "writer": round(1e6 * total(board, "writer_cpu_s") / scores, 2) if scores else None,
                                           "all": round(1e6 * every / scores, 2) if scores else None},
                      "non_2xx": int(total(board, "non_2xx")), "errors": int(total(board, "errors")),
                      "runs_scores_per_s": [r["scores_per_s"] for r in runs[board]]}
    plain, ruled = out["plain"], out["ruled"]
    out["throughput_ruled_vs_plain"] = round(ruled["scores_per_s"] / plain["scores_per_s"], 3) if plain["scores_per_s"] else None
    if plain["scores_per_region_cpu_s"] and ruled["scores_per_region_cpu_s"]:
        out["cpu_per_score_rules_cost"] = round(1 - ruled["scores_per_region_cpu_s"] / plain["scores_per_region_cpu_s"], 4)
    if plain["us_cpu_per_score"]["all"] and ruled["us_cpu_per_score"]["all"]:
        # what the rules add to every process's CPU per score (region, Redis, history writer)
        out["all_cpu_per_score_rules_cost"] = round(ruled["us_cpu_per_score"]["all"] / plain["us_cpu_per_score"]["all"] - 1, 4)
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
        newest = range(max(0, per_player - READ_PER_PLAYER), per_player)
        for p in range(min(players, TOKENS_MAX)):      # the queried players' newest few are read
            await store.mark_read(f"q{p}", [f"seed:q{p}:{k}" for k in newest])
    finally:
        await store.close()
        if redis is not None:
            await redis.aclose()


_TOKENS: dict[str, str] = {}


def _token(player: str) -> str:
    """The player's JWT, one per player for the whole bench (valid an hour): a client keeps its
    token, so the reads before the timed runs and the runs themselves present the same one."""
    token = _TOKENS.get(player)
    if token is None:
        token = _TOKENS[player] = jwt.encode({"sub": player, "exp": int(time.time()) + 3600}, JWT_SECRET,
                                             algorithm="HS256")
    return token


def _query_script(players: int, cursors: dict[int, str | None]) -> str:
    """Per queried player (one JWT each) its three requests: first page, the next page, unread only."""
    pairs = []
    for p in range(min(players, TOKENS_MAX)):
        token = _token(f"q{p}")
        for variables in ({}, {"a": cursors.get(p)}, {"u": True}):
            body = json.dumps({"query": INBOX_QUERY, "variables": variables}, separators=(",", ":"))
            pairs.append("{" + json.dumps(token) + "," + json.dumps(body) + "}")
    return _QUERY_SCRIPT % {"pairs": "{" + ",".join(pairs) + "}"}


def _prepare_queries(stack: BenchStack, inbox_warm: bool, players: int, per_player: int) -> dict[int, str | None]:
    """Seeds the inboxes, then reads each queried player's first page once (the player has read
    their inbox lately: the Redis window holds it, as it would for an active player) and returns
    each one's endCursor (the second page's `after`)."""
    asyncio.run(_seed_inbox(stack, inbox_warm, players, per_player))
    cursors: dict[int, str | None] = {}
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for p in range(min(players, TOKENS_MAX)):
            doc = client.post("/graphql", json={"query": INBOX_QUERY, "variables": {}},
                              headers={"Authorization": "Bearer " + _token(f"q{p}")}).json()
            page = (doc.get("data") or {}).get("notifications") or {}
            if "errors" in doc or len(page.get("edges", [])) != min(20, per_player):
                raise RuntimeError(f"the inbox query does not answer as seeded: {str(doc)[:300]}")
            cursors[p] = page["endCursor"]
    return cursors


def _query_run(stack: BenchStack, players: int, cursors: dict[int, str | None], rps: float,
               seconds: float) -> dict[str, Any]:
    """One paced wrk run of the inbox query, with the region's CPU per answered query."""
    from podium.devtools.bench.ingest_wrk import cpu_seconds

    assert stack.process is not None
    script = read_wrk.paced(_query_script(players, cursors), rps, QUERY_CONNECTIONS)
    idle0, idle_t0 = cpu_seconds(stack.process.pid), time.perf_counter()
    time.sleep(IDLE_SAMPLE_S)    # the region's own loops (engine, fan-out, delivery polls) cost this much idle
    idle_rate = (cpu_seconds(stack.process.pid) - idle0) / (time.perf_counter() - idle_t0)
    cpu0, t0 = cpu_seconds(stack.process.pid), time.perf_counter()
    query = wrk.run(stack.url, script, seconds=seconds, connections=QUERY_CONNECTIONS)
    cpu, elapsed = cpu_seconds(stack.process.pid) - cpu0, time.perf_counter() - t0
    requests = float(query.get("requests") or 0)
    query["region_cpu_ms_per_query"] = round(cpu * 1000 / requests, 3) if requests else None
    query["region_cpu_ms_per_query_net"] = (round(max(0.0, cpu - idle_rate * elapsed) * 1000 / requests, 3)
                                            if requests else None)
    query["region_idle_cpu_share"] = round(idle_rate, 4)
    return query


def _merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one path: the worst p50/p99 and the mean rate and CPU (each run kept)."""
    cpu = [r["region_cpu_ms_per_query"] for r in runs if r.get("region_cpu_ms_per_query") is not None]
    net = [r["region_cpu_ms_per_query_net"] for r in runs if r.get("region_cpu_ms_per_query_net") is not None]
    return {"rps": round(sum(float(r.get("rps") or 0) for r in runs) / len(runs), 1),
            "region_cpu_ms_per_query_net": round(sum(net) / len(net), 3) if net else None,
            **{k: int(sum(float(r.get(k) or 0) for r in runs)) for k in ("requests", "non_2xx", "errors")},
            "p50_ms": max(float(r.get("p50_ms") or 0) for r in runs),
            "p99_ms": max(float(r.get("p99_ms") or 0) for r in runs),
            "region_cpu_ms_per_query": round(sum(cpu) / len(cpu), 3) if cpu else None, "runs": runs}


def inbox_compare(players: int, per_player: int, rps: float, seconds: float, compare_redis: bool,
                  rounds: int = QUERY_ROUNDS) -> dict[str, Any]:
    """The inbox query on each path's own region, all started and seeded first, then run in turns
    (before, after, [redis], before, after, ...) so every path sees the same machine."""
    paths: dict[str, tuple[bool, dict[str, str]]] = {"before": (True, INBOX_BEFORE), "after": (True, INBOX_AFTER)}
    if compare_redis:
        paths["redis"] = (False, {})
    stacks = {name: BenchStack(_env(warm, 0, extra)).start() for name, (warm, extra) in paths.items()}
    try:
        cursors = {name: _prepare_queries(stack, paths[name][0], players, per_player) for name, stack in stacks.items()}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in stacks}
        healthz: list[dict[str, Any]] = []
        for _ in range(rounds):
            for name, stack in stacks.items():
                runs[name].append(_query_run(stack, players, cursors[name], rps, seconds))
            healthz.append(wrk.run(f"{stacks['after'].url}/healthz", read_wrk.paced("", rps, QUERY_CONNECTIONS),
                                   seconds=seconds, connections=QUERY_CONNECTIONS))
    finally:
        for stack in stacks.values():
            stack.stop()
    out: dict[str, Any] = {"players": players, "per_player": per_player, "target_rps": rps, "rounds": rounds,
                           "healthz": _merge_runs(healthz)}
    for name, (warm, _) in paths.items():
        out[name] = {"store": "warm (sqlite)" if warm else "redis", **_merge_runs(runs[name])}
    return out


def scenario_live(players: int, rules: int, rounds: int, seconds: float, inbox_players: int, notes_per_player: int,
                  query_rps: float, query_seconds: float, compare_redis: bool) -> dict[str, Any]:
    if not wrk.available():
        return {"status": "skipped", "reason": "wrk is not installed (.ci/setup-bench.sh)"}
    with BenchStack(_env(True, rules, SEPARATE_WRITER)) as stack:
        ingest = _ingest(stack, players, rules, rounds, seconds)
    inbox = inbox_compare(inbox_players, notes_per_player, query_rps, query_seconds, compare_redis)
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
        (f"| ingest CPU µs per score, region + Redis + history writer, with rules | {i['ruled']['us_cpu_per_score']['all']} | "
         f"no rules | {i['plain']['us_cpu_per_score']['all']} | rules cost {i.get('all_cpu_per_score_rules_cost')} |"),
    ]
    q = res["inbox"]
    for name in ("before", "after", "redis"):
        if name in q:
            p = q[name]
            rows.append(f"| `notifications` p50/p99 (ms) at {q['target_rps']:.0f} req/s target, {name}, inbox {p['store']} "
                        f"(achieved {p['rps']:.0f} req/s, region CPU {p['region_cpu_ms_per_query']} ms/query, "
                        f"{p['region_cpu_ms_per_query_net']} net of its idle loops) | "
                        f"{p['p50_ms']}/{p['p99_ms']} | /healthz at the same pace | "
                        f"{q['healthz']['p50_ms']}/{q['healthz']['p99_ms']} | |")
    return rows


def _inbox_rows(stack: BenchStack) -> int | None:
    import sqlite3

    path = Path(stack.tmp.name) / "data" / "notifications.sqlite3"
    if not path.exists():
        return None
    with sqlite3.connect(path, timeout=30) as c:
        return int(c.execute("SELECT count(*) FROM inbox").fetchone()[0])


def ingest_writers(players: int, rules: int, rounds: int, seconds: float,
                   writers: tuple[str, ...] = INBOX_WRITERS) -> dict[str, Any]:
    """Rules cost on ingest with each inbox writer (`notifications.inbox_writer`), one region per
    writer, all started and seeded first, then run in turns (per round and writer: plain, then
    ruled), so every writer sees the same machine; the history writer (with the drain) in its own
    process for all, its CPU reported beside the region's."""
    from podium.devtools.bench.ingest_wrk import cpu_seconds

    stacks = {w: BenchStack(_env(True, rules, {**SEPARATE_WRITER, "PODIUM_NOTIFICATIONS__INBOX_WRITER": w})).start()
              for w in writers}
    try:
        for stack in stacks.values():
            for board in BOARDS:
                _seed_board(stack.url, board, players)
            _declare_rules(stack.url, "ruled", rules)
            for board in BOARDS:
                ingest_wrk.run(stack.url, None, entries=1000, bodies=5, seconds=1, connections=1, board=board,
                               players=players)
        bodies = max(20, int(200_000 * seconds / 1000))
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {w: {b: [] for b in BOARDS} for w in writers}
        writer_cpu: dict[str, float] = dict.fromkeys(writers, 0.0)
        for _ in range(rounds):
            for w, stack in stacks.items():
                assert stack.process is not None
                wpid = stack.writer.pid if stack.writer is not None else None
                w0 = cpu_seconds(wpid) if wpid else 0.0
                for board in BOARDS:
                    runs[w][board].append(ingest_wrk.run(stack.url, stack.process.pid, entries=1000, bodies=bodies,
                                                         seconds=seconds, connections=INGEST_CONNECTIONS, board=board,
                                                         players=players))
                writer_cpu[w] += (cpu_seconds(wpid) - w0) if wpid else 0.0
        out: dict[str, Any] = {"players": players, "rules": rules, "rounds": rounds, "seconds_per_run": seconds}
        for w, stack in stacks.items():
            per: dict[str, Any] = {}
            for board in BOARDS:
                scores = sum(r["scores_per_s"] * r["seconds"] for r in runs[w][board])
                cpu = sum(float(r.get("region_cpu_s") or 0) for r in runs[w][board])
                secs = sum(float(r["seconds"]) for r in runs[w][board])
                per[board] = {"scores_per_s": round(scores / secs, 1) if secs else 0.0,
                              "scores_per_region_cpu_s": round(scores / cpu, 1) if cpu else None,
                              "non_2xx": sum(int(r.get("non_2xx") or 0) for r in runs[w][board])}
            plain, ruled = per["plain"]["scores_per_region_cpu_s"], per["ruled"]["scores_per_region_cpu_s"]
            per["cpu_per_score_rules_cost"] = round(1 - ruled / plain, 4) if plain and ruled else None
            per["writer_process_cpu_s"] = round(writer_cpu[w], 2)
            per["engine"] = _engine_drained(stack.url, ENGINE_DRAIN_S)
            time.sleep(2.0)      # the drain's last batches
            per["inbox_rows"] = _inbox_rows(stack)
            out[w] = per
        return out
    finally:
        for stack in stacks.values():
            stack.stop()


def main() -> None:
    """`python -m podium.devtools.bench.notifications_live`: the inbox query comparison alone, or
    (`--writers engine,drain`) the rules' cost on ingest with each inbox writer."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=50)
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=QUERY_ROUNDS)
    parser.add_argument("--redis", action="store_true", help="also the Redis inbox adapter (inbox_warm=false)")
    parser.add_argument("--writers", default="", help="e.g. engine,drain: the ingest comparison instead")
    parser.add_argument("--rules", type=int, default=100)
    args = parser.parse_args()
    if not wrk.available():
        raise SystemExit("wrk is not installed (.ci/setup-bench.sh)")
    if args.writers:
        writers = tuple(w.strip() for w in args.writers.split(",") if w.strip())
        print(json.dumps(ingest_writers(args.players, args.rules, args.rounds, args.seconds, writers), indent=1))
        return
    print(json.dumps(inbox_compare(args.players, args.notes, args.rps, args.seconds, args.redis, args.rounds), indent=1))


if __name__ == "__main__":
    main()

"""`podium bench convergence`: how fast the global tier converges after a burst and after a
partition heals, and how far its ranks are from an exact oracle, on real processes (three regions
and the global tier from `podium.devtools.stack`).

Burst: `entries` signed entries (1,000 per batch) posted concurrently to the three regions over
`best`, `latest` (scores that move down as well as up), `increment` and `decrement` boards; players
live in 1, 2 or 3 regions; heavy ties. Once the last batch is acknowledged, each region's
change-stream heads are read from its Redis, and the global tier's merged positions are polled in
its Redis until every head is merged: that is `drain_s` (time from the last acknowledged write
until the global tier holds every change). The per-change lag (regional commit -> global merge) is
the global tier's own sketch (`/v1/regions`): p50/p99 per region. Then the exact tier is checked
against the oracle (the documented merge of every region's final board, read from its Redis):
top-K and totalCount on every board, and sampled ranks against each answer's `errorBound`.

Heal: eu-west's shipping is paused, `heal_entries` more entries are posted to it, shipping
resumes; `heal_s` is the time from the resume until the global tier merged all of them, and the
oracle check runs again.

`python` runs the stack's processes with another interpreter (a checkout of the previous code
with its own venv), so the same driver measures the baseline in the same run.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from podium.devtools.stack import Stack
from podium.keys import board_keys
from podium.model import SortOrder
from podium.ranking import decode_member, from_zscore
from podium.signing import signed_headers

REGIONS = ["us-east", "eu-west", "ap-south"]
BOARDS = {"best": "best", "latest": "latest", "inc": "increment", "dec": "decrement"}
ENV = {"PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000"}
BATCH_ENTRIES = 1000
TOP_K = 1000
DEADLINE_S = 600.0
RETRIES_MAX = 50   # a loaded machine answers 503 + Retry-After; the bench retries like a game server
PAGE_Q = ("query($b:String!,$n:Int!,$o:Int!){ leaderboard(board:$b, first:$n, offset:$o)"
          "{ totalCount edges { node { rank player score } } } }")
ENTRY_Q = "query($b:String!,$p:String!){ player(id:$p){ entry(board:$b){ rank precision errorBound } } }"
Progress = Callable[[str, int, int], None]
log = logging.getLogger("podium.bench.convergence")


def _gql(client: httpx.Client, url: str, query: str, **variables: Any) -> Any:
    for _ in range(RETRIES_MAX):
        doc = client.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60).json()
        if not doc.get("errors"):
            return doc["data"]
        time.sleep(0.5)   # the queries are valid: an error is a loaded store's 503, retried as a client would
    raise RuntimeError(doc["errors"][0]["message"])


def _post_batches(stack: Stack, region: str, batches: list[list[dict[str, Any]]]) -> int:
    url = stack.region_node(region).url
    with httpx.Client(timeout=120) as client:
        for entries in batches:
            body = orjson.dumps({"entries": entries})
            for _ in range(RETRIES_MAX):
                headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores",
                                         time.time_ns() // 10**6, body)
                response = client.post(f"{url}/v1/scores", content=body, headers=headers)
                if response.status_code not in (429, 503):
                    break
                # overloaded: retry as a game server would (the event ids make the retry idempotent)
                time.sleep(min(2.0, float(response.headers.get("retry-after", "0.2") or 0.2)))
            response.raise_for_status()
    return sum(len(b) for b in batches)


def _batches(rng: random.Random, players: list[str], count: int) -> list[list[dict[str, Any]]]:
    now = time.time_ns() // 10**6
    out = []
    for start in range(0, count, BATCH_ENTRIES):
        entries = []
        for _ in range(min(BATCH_ENTRIES, count - start)):
            board = rng.choice(list(BOARDS))
            score = rng.randrange(3000) if board in ("best", "latest") else rng.randrange(1, 20)
            entries.append({"board": board, "player": rng.choice(players), "score": score,
                            "achieved_at": now - rng.randrange(100_000), "event_id": uuid.uuid4().hex})
        out.append(entries)
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redis(stack: Stack, name: str) -> redis.Redis:
    node = stack.global_node if name == "global" else stack.region_node(name)
    # a loaded machine (or an AOF fsync) can hold a reply for seconds: wait, retry, never hang
    return redis.Redis.from_url(node.redis.url, socket_timeout=60, retry_on_timeout=True)


def _heads(stack: Stack, regions: list[str]) -> dict[tuple[str, str], int]:
    """(region, board) -> the newest change-stream id as a sequence number (0: empty)."""
    out = {}
    for region in regions:
        r = _redis(stack, region)
        for board in BOARDS:
            rows = r.xrevrange(board_keys(board, 0).changes, count=1)
            ms, _, n = _text(rows[0][0]).partition("-") if rows else ("0", "", "0")
            out[(region, board)] = (int(ms) << 16) | int(n)
        r.close()
    return out


def _drained_after(stack: Stack, heads: dict[tuple[str, str], int], t0: float) -> float:
    """Seconds from `t0` until the global tier merged every (region, board) head."""
    g = _redis(stack, "global")
    try:
        while True:
            try:
                applied = {b: {_text(k): int(v) for k, v in g.hgetall(f"pg:{{{b}}}:0:applied").items()}
                           for b in BOARDS}
            except redis.RedisError:
                applied = {b: {} for b in BOARDS}   # a slow reply is no convergence: poll again
            if all(applied[b].get(region, 0) >= seq for (region, b), seq in heads.items()):
                return time.monotonic() - t0
            if time.monotonic() - t0 > DEADLINE_S:
                raise RuntimeError(f"the global tier did not merge every change within {DEADLINE_S:.0f} s")
            time.sleep(0.02)
    finally:
        g.close()


def _region_board(stack: Stack, region: str, board: str) -> dict[str, tuple[int, int]]:
    r = _redis(stack, region)
    out = {}
    rows: list[tuple[bytes, float]] = r.zrange(board_keys(board, 0).zset, 0, -1, withscores=True)  # type: ignore[assignment]
    for member, zscore in rows:
        ts, player = decode_member(member)
        out[player] = (from_zscore(zscore, SortOrder.DESC), ts)
    r.close()
    return out


def oracle(op: str, per_region: list[dict[str, tuple[int, int]]]) -> list[str]:
    """The documented merge: best = highest (earliest on ties), latest = newest (higher on ties),
    counters = the sum of the regional totals; ranked by score, then time, then player id."""
    values: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for board in per_region:
        for player, v in board.items():
            values[player].append(v)
    merged = {}
    for player, vs in values.items():
        if op == "best":
            merged[player] = min(vs, key=lambda v: (-v[0], v[1]))
        elif op == "latest":
            merged[player] = max(vs, key=lambda v: (v[1], v[0]))
        else:
            merged[player] = (sum(v[0] for v in vs), max(v[1] for v in vs))
    return sorted(merged, key=lambda p: (-merged[p][0], merged[p][1], p.encode()))


def _check(stack: Stack, client: httpx.Client, rng: random.Random, samples: int) -> dict[str, Any]:
    """The exact tier against the oracle on every board, and sampled ranks against their errorBound."""
    url = stack.global_node.url
    mismatches: dict[str, int] = {}
    errors: dict[str, Any] = {}
    for board, op in BOARDS.items():
        want = oracle(op, [_region_board(stack, r, board) for r in REGIONS])
        got, total = [], 0
        for offset in range(0, TOP_K, 500):
            page = _gql(client, url, PAGE_Q, b=board, n=500, o=offset)["leaderboard"]
            got += [e["node"]["player"] for e in page["edges"]]
            total = page["totalCount"]
        mismatches[board] = sum(1 for a, b in zip(got, want[:TOP_K], strict=False) if a != b) \
            + abs(len(got) - min(TOP_K, len(want))) + (total != len(want))
        index = {p: i + 1 for i, p in enumerate(want)}
        rows, missing = [], 0
        for player in rng.sample(want, min(samples, len(want))):
            entry = _gql(client, url, ENTRY_Q, b=board, p=player)["player"]["entry"]
            if entry is None:   # a player the oracle has and the global tier does not: a figure, not a crash
                missing += 1
                continue
            rows.append((abs(entry["rank"] - index[player]), entry["errorBound"], entry["precision"]))
        errs = sorted(e for e, _, _ in rows) or [0]
        errors[board] = {"players": len(want), "samples": len(rows), "missing": missing,
                         "p99_error": errs[int(0.99 * (len(errs) - 1))],
                         "max_error": errs[-1], "max_bound": max((b for _, b, _ in rows), default=0),
                         "within_bound": all(e <= b for e, b, _ in rows), "tiers": sorted({p for _, _, p in rows})}
    return {"top_k_mismatches": mismatches, "rank_error": errors}


def _lag_quantiles(client: httpx.Client, stack: Stack) -> dict[str, Any]:
    regions = client.get(f"{stack.global_node.url}/v1/regions").json()["regions"]
    return {r["region"]: r["convergence_lag_ms"] for r in regions}


def measure(stack: Stack, entries: int, heal_entries: int, players: int, samples: int,
            progress: Progress) -> dict[str, Any]:
    rng = random.Random(21)
    homes: dict[str, list[str]] = {r: [] for r in REGIONS}
    for i in range(players):
        for region in rng.sample(REGIONS, rng.choice([1, 1, 2, 3])):
            homes[region].append(f"u{i:06d}")
    share = {r: entries // len(REGIONS) + (1 if i < entries % len(REGIONS) else 0) for i, r in enumerate(REGIONS)}
    work = {r: _batches(rng, homes[r], share[r]) for r in REGIONS}
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(timeout=60) as client:
        progress("convergence: burst", 0, 3)
        started = time.monotonic()
        with ThreadPoolExecutor(len(REGIONS)) as pool:
            sent = sum(pool.map(lambda r: _post_batches(stack, r, work[r]), REGIONS))
        t_last = time.monotonic()
        burst_s = t_last - started
        drain_s = _drained_after(stack, _heads(stack, REGIONS), t_last)
        lag = _lag_quantiles(client, stack)
        progress("convergence: oracle check", 1, 3)
        log.warning("burst of %d entries in %.1f s; drained %.2f s after the last write; lag %s",
                    sent, burst_s, drain_s, lag)
        burst_check = _check(stack, client, rng, samples)

        progress("convergence: partition heal", 2, 3)
        eu = stack.region_node("eu-west").url
        client.post(f"{eu}/v1/admin/replication/pause", headers=admin).raise_for_status()
        _post_batches(stack, "eu-west", _batches(rng, homes["eu-west"], heal_entries))
        heads = _heads(stack, ["eu-west"])
        t_resume = time.monotonic()
        client.post(f"{eu}/v1/admin/replication/resume", headers=admin).raise_for_status()
        heal_s = _drained_after(stack, heads, t_resume)
        heal_check = _check(stack, client, rng, samples // 3)
    p50s = [q["p50"] for q in lag.values() if q.get("p50") is not None]
    p99s = [q["p99"] for q in lag.values() if q.get("p99") is not None]
    p50, p99 = (round(max(p50s)) if p50s else None), (round(max(p99s)) if p99s else None)
    return {"entries": sent, "burst_s": round(burst_s, 2), "entries_per_s": round(sent / burst_s),
            "drain_after_last_write_s": round(drain_s, 2),
            "per_change_lag_ms_p50": p50, "per_change_lag_ms_p99": p99, "per_change_lag_ms": lag,
            "heal_entries": heal_entries, "partition_heal_s": round(heal_s, 2),
            "burst_check": burst_check, "heal_check": heal_check}


def run(entries: int, heal_entries: int, players: int, samples: int, python: str | None,
        progress: Progress) -> dict[str, Any]:
    boards = [{"id": b, "operator": op} for b, op in BOARDS.items()]
    # global-tier settings from the caller's environment (e.g. PODIUM_GLOBAL__MERGE_IN_REDIS=1): the
    # stack passes no PODIUM_ variable through on its own
    env = {**ENV, **{k: v for k, v in os.environ.items() if k.startswith("PODIUM_GLOBAL__")}}
    with tempfile.TemporaryDirectory() as tmp, \
            Stack(REGIONS, Path(tmp), boards=boards, extra_env=env, python=python or sys.executable) as stack:
        return measure(stack, entries, heal_entries, players, samples, progress)


def scenario_convergence(entries: int, baseline_python: str | None, progress: Progress) -> dict[str, Any]:
    heal = max(1000, entries // 100)
    players = max(1000, min(60_000, entries // 6))
    samples = 300
    out: dict[str, Any] = {"status": "measured", "target_drain_s_max": 5.0, "target_heal_s_max": 2.0,
                           "podium": run(entries, heal, players, samples, None, progress)}
    if baseline_python:
        try:
            out["baseline"] = {"python": baseline_python,
                               **run(entries, heal, players, samples, baseline_python, progress)}
        except Exception as exc:  # the previous code failing is a figure too, never fatal
            where = traceback.extract_tb(exc.__traceback__)[-3:]
            out["baseline"] = {"python": baseline_python, "status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500],
                               "at": [f"{f.filename}:{f.lineno} {f.name}" for f in where]}
    return out


def markdown_rows(res: dict[str, Any]) -> list[str]:
    if res.get("status") != "measured":
        return [f"| global convergence | {res.get('status')} | | | |"]
    p, b = res["podium"], res.get("baseline") or {}

    def pair(key: str, unit: str) -> str:
        base = f"{b[key]} {unit}" if key in b else "not measured"
        ratio = f"{b[key] / p[key]:.1f}x faster" if key in b and p[key] else ""
        return f"{p[key]} {unit} | previous code | {base} | {ratio} |"

    rows = [(f"| convergence: drain after the last write of a {p['entries']:,}-entry 3-region burst "
             f"(target < 5 s) | {pair('drain_after_last_write_s', 's')}"),
            f"| convergence: partition heal, {p['heal_entries']:,} entries (target < 2 s) | {pair('partition_heal_s', 's')}",
            (f"| convergence: per-change lag during the burst p50 / p99 | {p['per_change_lag_ms_p50']} / "
             f"{p['per_change_lag_ms_p99']} ms | | | |")]
    for board, e in p["burst_check"]["rank_error"].items():
        rows.append(f"| rank error vs errorBound, board {board} ({e['samples']} samples of {e['players']:,}) "
                    f"| p99 {e['p99_error']}, max {e['max_error']} vs bound {e['max_bound']} "
                    f"({'within' if e['within_bound'] else 'EXCEEDED'}) | top-{TOP_K} mismatches "
                    f"| {p['burst_check']['top_k_mismatches'][board]} | |")
    return rows

"""Bench scenarios: each returns a dict with Podium's figures, its baselines and their ratios."""

from __future__ import annotations

import asyncio
import importlib.util
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import httpx
import orjson

from podium.devtools.bench import apply_redis_cpu, baselines, ingest_wrk, loadgen, read_wrk, wrk
from podium.devtools.bench.stack import GAME_KEY_ID, GAME_SECRET, BenchStack
from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import connect
from podium.region.rank_store_redis import RedisRankStore
from podium.signing import signed_headers

BENCH_DIR = Path(__file__).resolve().parents[3] / "benchmarks"
BATCH_ENTRIES = 1000
PEER_PLAYER_PREFIX = "p"

Progress = Callable[[str, int, int], None]  # (task description, advance, total)


@dataclass
class BenchConfig:
    """Sizes of one run; `quick()` fits in 3 minutes on 2 cores, `tiny()` is the harness test."""

    ingest_batches: int = 400
    ingest_concurrency: tuple[int, ...] = (4, 16)
    ingest_seconds: float = 8.0              # each wrk run of `bench ingest` (peak per concurrency, then paced)
    apply_cpu_warm_batches: int = 20          # `bench ingest`'s in-process apply A/B per redis-server binary: batches not counted
    apply_cpu_batches: int = 40               # and counted (1000 entries each, interleaved over the binaries)
    ingest_ack_samples: int = 300            # 500-entry batches the paced ack run aims for (at most 30 s): a p99 of 60 was the max
    read_boards: tuple[int, ...] = (1_000_000, 10_000_000)
    read_seconds: float = 6.0
    read_requests_max: int = 200_000
    read_concurrency: int = 16
    paced_rps: float = 1000.0
    paced_seconds: float = 5.0
    inprocess_requests: int = 5000
    redis_benchmark_requests: int = 200_000
    peer_reads: int = 3000
    peer_ingest_scores: int = 200_000
    redis_py_scores: int = 200_000
    subscribers: tuple[int, ...] = (2000, 5000, 10_000)
    subscription_rounds: int = 10
    subscribers_over_workers: tuple[tuple[int, int], ...] = ((20_000, 2),)   # (subscribers, worker processes)
    global_seconds: float = 10.0
    contest_teams: int = 1_000_000
    contest_joins: int = 20_000
    contest_events_per_min: int = 200        # live phase: feed events per minute on the 1M-team contest
    contest_live_seconds: float = 300.0      # live phase length
    contest_subscribers: int = 2000          # subscribers on the contest's hub (top 10 + own entry)
    trending_batches: int = 40               # 10,000-event batches ingested by `bench trending`
    trending_ack_batches: int = 200          # 500-event batches timed at half load
    trending_reads: int = 200                # reads per query shape
    trending_distinct_items: int = 1_000_000  # the wide stream: distinct items of the exact 30-day read
    trending_wide_reads: int = 20            # its exact reads (each past the server's merged-range cache)
    trending_global_events: int = 60_000     # world-wide part (trending_global.py): events per region
    trending_global_reads: int = 30          # its reads per query shape
    notify_players: int = 100_000            # `bench notifications`: board size
    notify_rules: int = 100                  # rules on the board
    notify_ticks: int = 200                  # board ticks evaluated
    notify_changes_per_tick: int = 5000      # score changes per tick (20k scores/s at a 250 ms tick)
    notify_endpoints: int = 100              # webhook endpoints on the local receiver
    notify_events: int = 100                 # notifications each endpoint receives
    notify_ingest_rounds: int = 3            # live region: alternating runs per board (rules, no rules)
    notify_ingest_seconds: float = 8.0       # length of each of those runs
    notify_inbox_players: int = 10_000       # players with a seeded inbox for the `notifications` query load
    notify_inbox_notes: int = 50             # notifications per seeded inbox
    notify_query_rps: float = 1000.0         # paced `notifications` query rate
    notify_query_seconds: float = 15.0       # length of the paced query run
    notify_compare_redis: bool = True        # the same query load on a region whose inbox is Redis
    kafka_worker_entries: int = 200_000      # entries on the log before one worker drains them (`bench kafka`)
    kafka_paced_seconds: float = 10.0        # `bench kafka` paced run at 20k scores/s
    convergence_entries: int = 380_000      # `bench convergence`: burst size over three regions
    convergence_baseline_python: str | None = None   # a previous checkout's interpreter (baseline, same run)
    peer: bool = True
    cache_dir: Path = field(default_factory=lambda: BENCH_DIR / "results" / ".cache")

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(ingest_batches=150, ingest_concurrency=(8,), ingest_seconds=4.0, read_boards=(100_000,), read_seconds=3.0,
                   paced_seconds=3.0, inprocess_requests=2000, redis_benchmark_requests=100_000, peer_reads=1000,
                   peer_ingest_scores=50_000, redis_py_scores=50_000, subscribers=(2000,), subscription_rounds=5,
                   subscribers_over_workers=(),
                   global_seconds=3.0, contest_teams=100_000, contest_joins=5000, contest_live_seconds=60.0, trending_batches=15,
                   trending_ack_batches=60, trending_reads=50, trending_distinct_items=200_000, trending_wide_reads=10,
                   trending_global_events=30_000, trending_global_reads=20, notify_players=20_000, notify_ticks=50,
                   notify_changes_per_tick=1000, notify_endpoints=50, notify_events=40, notify_ingest_rounds=2,
                   notify_ingest_seconds=4.0, notify_inbox_players=2000, notify_query_seconds=5.0,
                   kafka_worker_entries=100_000, kafka_paced_seconds=5.0)

    @classmethod
    def tiny(cls) -> BenchConfig:
        return cls(ingest_batches=4, ingest_concurrency=(2,), ingest_seconds=1.0, ingest_ack_samples=60, read_boards=(2000,), read_seconds=0.5, read_requests_max=200,
                   read_concurrency=2, paced_rps=100.0, paced_seconds=0.5, inprocess_requests=50,
                   redis_benchmark_requests=1000, peer_reads=50, peer_ingest_scores=2000, redis_py_scores=2000,
                   subscribers=(20,), subscription_rounds=2, subscribers_over_workers=(), global_seconds=1.0, contest_teams=500,
                   contest_joins=50, contest_live_seconds=3.0, contest_subscribers=20, peer=False, trending_batches=2, trending_ack_batches=3, trending_reads=3,
                   trending_distinct_items=10_000, trending_wide_reads=2, trending_global_events=10_000, trending_global_reads=2,
                   notify_players=500, notify_rules=8, notify_ticks=5, notify_changes_per_tick=20, notify_endpoints=3,
                   notify_events=5, notify_ingest_rounds=1, notify_ingest_seconds=3.0, notify_inbox_players=30,
                   notify_inbox_notes=5, notify_query_rps=100.0, notify_query_seconds=1.0, notify_compare_redis=False,
                   kafka_worker_entries=2000, kafka_paced_seconds=0.5, apply_cpu_warm_batches=1, apply_cpu_batches=2)


def ratio(podium: float | None, baseline: dict[str, Any], key: str) -> float | None:
    """Podium's figure over the baseline's; None when the baseline was not measured."""
    value = baseline.get(key) if baseline.get("measured") else None
    return round(podium / value, 3) if podium and value else None


def load_module(name: str) -> ModuleType | None:
    """A standalone benchmark script from benchmarks/, loaded by path when it exists."""
    path = BENCH_DIR / f"{name}.py"
    if not path.exists():
        return None
    if name in sys.modules:
        return sys.modules[name]
    # Under its own name, with benchmarks/ on sys.path: scripts that spawn worker processes
    # (multiprocessing "spawn") pickle their functions by module name, and the children import it again.
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---- ingest ---------------------------------------------------------------------------------

def _batch_body(n: int, board: str) -> bytes:
    now = time.time_ns() // 10**6
    return orjson.dumps({"entries": [
        {"board": board, "player": f"p{random.randrange(1_000_000)}", "score": random.randrange(10**9),
         "achieved_at": now, "event_id": f"b{n}-{i}-{random.getrandbits(32)}"} for i in range(BATCH_ENTRIES)]})


async def _ingest_http(url: str, batches: int, concurrency: int, seconds_max: float,
                       progress: Callable[[int], None] | None) -> dict[str, Any]:
    bodies = [_batch_body(n, "ingest") for n in range(batches)]
    accepted = 0

    async def post(client: httpx.AsyncClient, n: int) -> bool:
        nonlocal accepted
        body = bodies[n]
        headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", time.time_ns() // 10**6, body)
        headers["content-type"] = "application/json"
        r = await client.post(f"{url}/v1/scores", content=body, headers=headers)
        if r.status_code != 200:
            return False
        accepted += sum(1 for x in r.json()["results"] if x["status"] in ("applied", "unchanged"))
        return True

    result = await loadgen.run(post, concurrency=concurrency, requests_max=batches, seconds_max=seconds_max,
                               on_progress=progress)
    summary = result.summary(BATCH_ENTRIES)
    summary["scores_per_s"] = round(accepted / result.seconds, 1) if result.seconds else 0.0
    summary["accepted"] = accepted
    return summary


def scenario_ingest(stack: BenchStack, cfg: BenchConfig, peer: baselines.Peer, progress: Progress) -> dict[str, Any]:
    base = {
        "redis_benchmark_zadd_p16": baselines.redis_benchmark(
            stack.redis.port, ["zadd", "baseline:rb", "__rand_int__", "m:__rand_int__"], cfg.redis_benchmark_requests, 16),
        "redis_benchmark_zadd_p1": baselines.redis_benchmark(
            stack.redis.port, ["zadd", "baseline:rb", "__rand_int__", "m:__rand_int__"], cfg.redis_benchmark_requests // 2, 1),
        "redis_py_pipeline": baselines.redis_py_pipeline(stack.redis.url, cfg.redis_py_scores),
        "peer_rank_members_1000": peer.run(stack.redis.port, "ingest", cfg.peer_ingest_scores),
    }
    load: dict[str, Any] = {}
    if ingest_wrk.available():   # the native generator: the client does not compete with the region in Python
        progress("ingest (wrk)", 0, 1)
        load = ingest_wrk.peak_and_paced(stack.url, stack.process.pid if stack.process else None,
                                         connections=cfg.ingest_concurrency, seconds=cfg.ingest_seconds,
                                         redis_url=stack.redis.url, paced_samples=cfg.ingest_ack_samples)
        progress("ingest (wrk)", 1, 1)
        runs, best = load["peak_runs"], load["peak"]
    else:
        runs = []
        for conc in cfg.ingest_concurrency:
            def adv(n: int, c: int = conc) -> None:
                progress(f"ingest c={c}", n, cfg.ingest_batches)
            r = asyncio.run(_ingest_http(stack.url, cfg.ingest_batches, conc, 120.0, adv))
            r["game_servers"] = conc
            runs.append(r)
        best = max(runs, key=lambda r: r["scores_per_s"])
    progress("ingest: apply.lua Redis CPU per binary", 0, 1)
    apply_cpu = apply_redis_cpu.measure(apply_redis_cpu.default_binaries(), warm=cfg.apply_cpu_warm_batches,
                                        batches=cfg.apply_cpu_batches)
    progress("ingest: apply.lua Redis CPU per binary", 1, 1)
    return {
        "status": "measured", "unit": "scores/s", "batch_entries": BATCH_ENTRIES, "runs": runs,
        "redis_server": stack.redis.binary, "apply_redis_cpu": apply_cpu,
        "load_generator": "wrk" if load else "python httpx", "podium_scores_per_s": best["scores_per_s"],
        "scores_per_region_cpu_s": best.get("scores_per_region_cpu_s"),
        "scores_per_redis_cpu_s": best.get("scores_per_redis_cpu_s"), "ack_latency": load.get("paced"),
        "baselines": base, "ratios": {k: ratio(best["scores_per_s"], v, "items_per_s") for k, v in base.items()},
    }


# ---- read -----------------------------------------------------------------------------------

QUERIES: dict[str, tuple[str, Callable[[int, str], dict[str, str]]]] = {
    "top100": ("query($b:String!){leaderboard(board:$b, first:100){edges{node{rank player score}}}}", lambda n, p: {}),
    "page500_600": ("query($b:String!){page(board:$b, fromRank:500, toRank:600){rank player score}}", lambda n, p: {}),
    "rank": ("query($b:String!,$p:String!){player(id:$p){rank(board:$b)}}", lambda n, p: {"p": p}),
    "around": ("query($b:String!,$p:String!){around(board:$b, player:$p, above:12, below:12){rank player score}}",
               lambda n, p: {"p": p}),
}


async def _load_boards(url: str, players: int) -> dict[str, Any]:
    """Podium's board through the fast path and the peer's board (a plain sorted set) by pipeline."""
    redis = connect(url)
    store = RedisRankStore(redis)
    board = Board(id="read")
    await store.clear(board)
    before = int((await redis.info("memory"))["used_memory"])
    t0 = time.perf_counter()
    now = time.time_ns() // 10**6
    await store.load(board, ((f"p{i}", random.randrange(10**9), now - i % 100_000) for i in range(players)))
    load_s = time.perf_counter() - t0
    after = int((await redis.info("memory"))["used_memory"])
    await redis.delete("peer-bench")
    for start in range(0, players, 10_000):
        await redis.zadd("peer-bench", {f"p{i}": random.randrange(10**9) for i in range(start, min(players, start + 10_000))})
    peer_after = int((await redis.info("memory"))["used_memory"])
    # Without withscores, redis-py's union of reply shapes narrows to a member.
    member = cast(bytes, (await redis.zrevrange(keys_of(board).zset, players // 2, players // 2))[0])
    await redis.aclose()
    return {"players": players, "load_s": round(load_s, 2), "load_players_per_s": round(players / load_s, 1),
            "used_memory_delta_bytes": after - before, "bytes_per_player": round((after - before) / players, 1),
            "peer_bytes_per_player": round((peer_after - after) / players, 1),
            "zset_key": keys_of(board).zset, "sample_member": member.decode()}


async def _http_query(url: str, name: str, players: int, cfg: BenchConfig, rate: float | None,
                      seconds: float, progress: Callable[[int], None] | None) -> dict[str, Any]:
    query, variables = QUERIES[name]

    async def ask(client: httpx.AsyncClient, n: int) -> bool:
        player = f"p{random.randrange(players)}"
        r = await client.post(f"{url}/graphql", json={"query": query, "variables": {"b": "read", **variables(n, player)}})
        return r.status_code == 200 and not r.json().get("errors")

    res = await loadgen.run(ask, concurrency=cfg.read_concurrency if rate is None else 8,
                            requests_max=cfg.read_requests_max, seconds_max=seconds, rate_per_s=rate,
                            on_progress=progress)
    return res.summary()


async def _inprocess(url: str, players: int, count: int) -> dict[str, Any]:
    redis = connect(url)
    store = RedisRankStore(redis)
    board = Board(id="read")
    out: dict[str, Any] = {}
    ops: dict[str, Callable[[str], Awaitable[object]]] = {
        "top100": lambda p: store.range(board, 0, 100),
        "rank": lambda p: store.players(board, [p]),
        "around": lambda p: store.around(board, p, 12, 12),
    }
    # "rank_known": players whose rank this process read before (a player asking again after a game):
    # their members are known (region/rank_members.py), each read is ZSCORE + ZRANK in one MULTI.
    known = [f"p{random.randrange(players)}" for _ in range(count)]
    for p in known:
        await store.players(board, [p])
    random.shuffle(known)
    ops["rank_known"] = lambda p: store.players(board, [p])
    for name, op in ops.items():
        lat = []
        t0 = time.perf_counter()
        for i in range(count):
            player = known[i] if name == "rank_known" else f"p{random.randrange(players)}"
            s = time.perf_counter()
            await op(player)
            lat.append((time.perf_counter() - s) * 1000)
        seconds = time.perf_counter() - t0
        lat.sort()
        out[name] = {"rps": round(count / seconds, 1), "p50_ms": round(lat[len(lat) // 2], 3),
                     "p99_ms": round(lat[int(len(lat) * 0.99)], 3)}
    await redis.aclose()
    return out


def scenario_read(stack: BenchStack, cfg: BenchConfig, peer: baselines.Peer, progress: Progress,
                  shared: dict[str, Any]) -> dict[str, Any]:
    boards = []
    for players in cfg.read_boards:
        progress(f"load {players:,}", 0, 1)
        loaded = asyncio.run(_load_boards(stack.redis.url, players))
        progress(f"load {players:,}", 1, 1)
        shared.setdefault("loads", []).append(loaded)
        http: dict[str, Any] = {}
        for name in QUERIES:
            def adv(n: int, label: str = f"{name} @{players:,}") -> None:
                progress(label, n, cfg.read_requests_max)
            http[name] = asyncio.run(_http_query(stack.url, name, players, cfg, None, cfg.read_seconds, adv))
        http["top100_paced"] = asyncio.run(_http_query(stack.url, "top100", players, cfg, cfg.paced_rps,
                                                      cfg.paced_seconds, None))
        http["top100_paced"]["target_rps"] = cfg.paced_rps
        if wrk.available():   # the native load generator, against /healthz and each read, same run
            http["wrk"] = wrk.read_suite(stack.url, {k: q for k, (q, _) in QUERIES.items()}, players,
                                         seconds=cfg.read_seconds, connections=cfg.read_concurrency)
            http["wrk"].update(read_wrk.suite(stack.url, players, seconds=cfg.read_seconds,   # + REST peer, paced
                                              connections=cfg.read_concurrency, paced_rps=cfg.paced_rps,
                                              paced_seconds=cfg.paced_seconds))
        inproc = asyncio.run(_inprocess(stack.redis.url, players, cfg.inprocess_requests))
        n = cfg.redis_benchmark_requests
        base = {
            "redis_benchmark_zrevrange_0_99": baselines.redis_benchmark(
                stack.redis.port, ["zrevrange", loaded["zset_key"], "0", "99"], n // 4),
            "redis_benchmark_zrevrank": baselines.redis_benchmark(
                stack.redis.port, ["zrevrank", loaded["zset_key"], loaded["sample_member"]], n),
            "peer_leaders_100": peer.run(stack.redis.port, "leaders", cfg.peer_reads),
            "peer_rank_for": peer.run(stack.redis.port, "rank", cfg.peer_reads * 4),
            "peer_around_me_25": peer.run(stack.redis.port, "around", cfg.peer_reads),
        }
        ratios = {
            "http_top100_vs_peer_leaders_100": ratio(http["top100"]["rps"], base["peer_leaders_100"], "rps"),
            "http_top100_vs_redis_benchmark_zrevrange": ratio(http["top100"]["rps"], base["redis_benchmark_zrevrange_0_99"], "rps"),
            "http_page_vs_peer_leaders_100": ratio(http["page500_600"]["rps"], base["peer_leaders_100"], "rps"),
            "http_rank_vs_peer_rank_for": ratio(http["rank"]["rps"], base["peer_rank_for"], "rps"),
            "http_rank_vs_redis_benchmark_zrevrank": ratio(http["rank"]["rps"], base["redis_benchmark_zrevrank"], "rps"),
            "http_around_vs_peer_around_me": ratio(http["around"]["rps"], base["peer_around_me_25"], "rps"),
            **({f"wrk_{name}_vs_healthz": ratio(http["wrk"][name]["rps"], http["wrk"]["healthz"], "rps")
                for name in QUERIES} if "wrk" in http else {}),
            **(read_wrk.ratios(http["wrk"]) if "wrk" in http else {}),
            "inprocess_top100_vs_peer_leaders_100": ratio(inproc["top100"]["rps"], base["peer_leaders_100"], "rps"),
            "inprocess_rank_vs_peer_rank_for": ratio(inproc["rank"]["rps"], base["peer_rank_for"], "rps"),
            "inprocess_rank_known_vs_peer_rank_for": ratio(inproc["rank_known"]["rps"], base["peer_rank_for"], "rps"),
            "inprocess_around_vs_peer_around_me": ratio(inproc["around"]["rps"], base["peer_around_me_25"], "rps"),
        }
        boards.append({"players": players, "load": loaded, "http": http, "inprocess": inproc,
                       "baselines": base, "ratios": ratios})
    return {"status": "measured", "unit": "requests/s", "boards": boards}


# ---- memory, subscriptions, global ----------------------------------------------------------

NAIVE_SUBSCRIBERS_MAX = 2000


def scenario_subscriptions(cfg: BenchConfig) -> dict[str, Any]:
    module = load_module("subscriptions")
    if module is None or not hasattr(module, "run"):
        return {"status": "not available", "reason": "benchmarks/subscriptions.py is not present"}
    runs = []
    steps = [(n, 1) for n in cfg.subscribers] + list(cfg.subscribers_over_workers)
    for n, workers in steps:
        try:
            # the naive server is measured once per subscriber count on one process (the ratio's baseline),
            # with at most NAIVE_SUBSCRIBERS_MAX: at 10,000 it exhausts its Redis pool and reports nothing
            runs.append({"subscribers": n, "workers": workers,
                         **module.run(subscribers=n, rounds=cfg.subscription_rounds, workers=workers, naive=workers == 1,
                                      naive_subscribers=min(n, NAIVE_SUBSCRIBERS_MAX))})
        except Exception as exc:  # a foreign script's failure is reported, never lost nor fatal to the run
            runs.append({"subscribers": n, "workers": workers, "status": "failed",
                         "error": f"{type(exc).__name__}: {exc}"[:500]})
    return {"status": "measured", "runs": runs}


def scenario_global(cfg: BenchConfig) -> dict[str, Any]:
    if importlib.util.find_spec("podium.global_.server") is None:
        return {"status": "not available", "reason": "the global tier (podium.global_.server) is not installed"}
    module = load_module("global_convergence")
    if module is None or not hasattr(module, "run"):
        return {"status": "not available", "reason": "benchmarks/global_convergence.py is not present"}
    try:
        players = 1000 if cfg.global_seconds < 2 else (100_000 if cfg.global_seconds < 5 else 1_000_000)
        return {"status": "measured", "target_p99_ms_max": 2000,
                **module.run(seconds=cfg.global_seconds, rank_players=players)}
    except Exception as exc:  # reported, not fatal
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}


def scenario_kafka(cfg: BenchConfig) -> dict[str, Any]:
    module = load_module("kafka_ingest")
    if module is None or not hasattr(module, "run"):
        return {"status": "not available", "reason": "benchmarks/kafka_ingest.py is not present"}
    from podium.devtools.bench import kafka_worker

    try:
        out = {"status": "measured", **module.run(batches=max(4, cfg.ingest_batches // 5))}
    except Exception as exc:  # reported, not fatal
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    try:   # applied entries/s per worker process and ack -> ranked at 20k scores/s paced
        out["worker"] = kafka_worker.run(entries=cfg.kafka_worker_entries, paced_seconds=cfg.kafka_paced_seconds)
    except Exception as exc:  # reported, not fatal
        out["worker"] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    return out


def scenario_contests(cfg: BenchConfig) -> dict[str, Any]:
    module = load_module("contests_bench")
    if module is None or not hasattr(module, "run"):
        return {"status": "not available", "reason": "benchmarks/contests_bench.py is not present"}
    try:
        return {"status": "measured", "target_fanout_s_max": 2.0, **module.run(
            teams=cfg.contest_teams, joins=cfg.contest_joins, events_per_min=cfg.contest_events_per_min,
            seconds=cfg.contest_live_seconds, subscribers=cfg.contest_subscribers)}
    except Exception as exc:  # reported, not fatal
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}


SCENARIOS = ("ingest", "read", "subscriptions", "global", "memory", "kafka", "contests", "trending", "notifications",
             "convergence")
DEFAULT_SCENARIOS = ("ingest", "read", "subscriptions", "global", "memory")

"""`podium bench notifications`: what notification rules cost a board's tick, and how fast the
webhook delivery worker drains the outbox into a local receiver, each next to a baseline measured
in the same run.

1. Rules per tick (CPU time). A board of `players` entries takes `changes_per_tick` random score changes per
   tick; the engine sees the top slice its rules need (`slice_for`). Baseline: the tick's work for
   that slice without rules (the fan-out's diff, the engine's `apply_diff` and both player views);
   Podium: the same plus `evaluate()` of `rules` rules (a mix of overtaken, entered/left top-N and
   rank thresholds).
2. Webhook deliveries. `events` notifications in the Redis outbox, `endpoints` endpoints that each
   want every event, one local HTTP receiver (asyncio, its own process, HTTP/1.1 keep-alive) that
   verifies nothing and answers 200 (500 for the failing share, which is then dead-lettered). Baseline: the same signed bodies posted straight from an httpx client with the
   same per-endpoint concurrency (no Redis, no queues); Podium: the `DeliveryWorker` routing and
   delivering them. Lag: receiver arrival minus the event's enqueue time.
3–4. On a live region: ingest with and without rules, and the `notifications` query's latency at a
   paced rate (`notifications_live`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import certifi
import httpx
import orjson

from podium.config import ApiLimits, NotificationSettings
from podium.devtools.bench.webhook_receiver import Receiver
from podium.model import RankedEntry
from podium.redis_client import connect
from podium.redis_server import RedisServer
from podium.top_diff import apply_diff, diff_top

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
DRAIN_TIMEOUT_S = 600.0
HTTP_TIMEOUT_S = 30.0          # the baseline client's; the worker uses `webhook_timeout_ms`


def _pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


# -- 1. rules per tick --------------------------------------------------------------------------
def _rules(count: int, n_max: int) -> list[Any]:
    from podium.notify_rules import Metric, Rule, RuleKind

    kinds = [RuleKind.OVERTAKEN, RuleKind.ENTERED_TOP_N, RuleKind.LEFT_TOP_N, RuleKind.THRESHOLD]
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        n = min(n_max, 10 + (i % 9) * 10)
        if kind is RuleKind.THRESHOLD:
            out.append(Rule(f"r{i}", "bench", kind, metric=Metric.RANK, value=n))
        else:
            out.append(Rule(f"r{i}", "bench", kind, n=min(n, n_max - 6), near_ranks=5, window_ms=60_000))
    return out


def _ticks(players: int, ticks: int, changes_per_tick: int, slice_n: int, rng: random.Random) -> list[list[RankedEntry]]:
    """The top slice after each tick of random score changes (higher is better, ties by player)."""
    scores = {f"p{i}": rng.randrange(1_000_000) for i in range(players)}
    names = list(scores)

    def top() -> list[RankedEntry]:
        import heapq

        best = heapq.nsmallest(slice_n, scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return [RankedEntry(i + 1, p, s, 0) for i, (p, s) in enumerate(best)]

    out = [top()]
    for _ in range(ticks):
        for _ in range(changes_per_tick):
            player = rng.choice(names)
            scores[player] = max(scores[player], rng.randrange(1_100_000))
        out.append(top())
    return out


def bench_rules(players: int, rules: int, ticks: int, changes_per_tick: int, seed: int = 18) -> dict[str, Any]:
    from podium.notify_evaluate import Coalescer, as_board, evaluate, slice_for

    settings = NotificationSettings()
    declared = _rules(rules, settings.top_n_max)
    slice_n = slice_for(declared, settings.top_n_max)
    slices = _ticks(players, ticks, changes_per_tick, slice_n, random.Random(seed))

    def tick(before: list[RankedEntry], after: list[RankedEntry]) -> tuple[dict[str, RankedEntry], dict[str, RankedEntry]]:
        new = apply_diff(before, diff_top(before, after))
        return as_board(before), as_board(new)

    # CPU time of this process, not wall time: the loops are pure computation, and on a shared
    # machine wall time mostly measures how long other processes held the cores.
    t0 = time.process_time()
    for before, after in itertools.pairwise(slices):
        tick(before, after)
    base_s = time.process_time() - t0

    co = Coalescer(settings.coalesce_players_max, settings.overtaken_by_max)
    notes = suppressed = 0
    t0 = time.process_time()
    for i, (before, after) in enumerate(itertools.pairwise(slices)):
        result = evaluate(declared, *tick(before, after), 1_000 * i, i, co)
        notes += len(result.notifications)
        suppressed += result.suppressed
    rules_s = time.process_time() - t0
    per_tick_ms = rules_s / ticks * 1000
    base_ms = base_s / ticks * 1000
    # The engine evaluates each board once per fan-out tick, whatever the score rate: at the
    # region's `tick_ms` the rules cost (evaluate ms per tick) / tick_ms of one core.
    tick_ms = ApiLimits().tick_ms
    return {"evaluate_core_share_at_tick": round((per_tick_ms - base_ms) / tick_ms, 4), "tick_ms": tick_ms,
            "players": players, "rules": rules, "slice": slice_n, "ticks": ticks, "changes_per_tick": changes_per_tick,
            "baseline_ticks_per_s": round(ticks / base_s, 1), "podium_ticks_per_s": round(ticks / rules_s, 1),
            "evaluate_ms_per_tick": round(per_tick_ms, 3),
            "rule_evaluations_per_s": round(ticks * rules / rules_s, 1),
            "notifications": notes, "suppressed": suppressed}


# -- 2. webhook deliveries ----------------------------------------------------------------------
def _notes(events: int, at_ms: int) -> list[bytes]:
    return [orjson.dumps({"id": f"bench:{i}", "kind": "threshold", "rule": "r", "board": "bench", "player": f"p{i}",
                          "at_ms": at_ms, "rank": 1, "previous_rank": None, "score": i, "by": [], "count": 0,
                          "extra": {}}) for i in range(events)]


async def _baseline(endpoints: list[Any], bodies: list[bytes], concurrency: int) -> float:
    """Each endpoint posted by its own httpx client (`concurrency` keep-alive connections): one
    shared pool of thousands of connections is quadratic in httpx, and would flatter the worker."""
    from podium.notify_webhooks import delivery_headers

    tls = ssl.create_default_context(cafile=certifi.where())
    clients = [httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, trust_env=False, transport=httpx.AsyncHTTPTransport(
        verify=tls, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)))
        for _ in endpoints]

    async def one_endpoint(endpoint: Any, client: httpx.AsyncClient) -> None:
        queue = list(bodies)

        async def lane() -> None:
            while queue:
                body = queue.pop()
                event = orjson.loads(body)["id"]
                r = await client.post(endpoint.url, content=body,
                                      headers=delivery_headers(endpoint, event, body, time.time_ns() // 1_000_000))
                r.raise_for_status()

        await asyncio.gather(*(lane() for _ in range(concurrency)))

    t0 = time.perf_counter()
    await asyncio.gather(*(one_endpoint(e, c) for e, c in zip(endpoints, clients, strict=True)))
    elapsed = time.perf_counter() - t0
    for client in clients:
        await client.aclose()
    return elapsed


async def _podium(redis_url: str, endpoints: list[Any], bodies: list[bytes],
                  settings: NotificationSettings) -> tuple[float, int, int]:
    from podium.clock import SystemClock
    from podium.notify_delivery import DeliveryWorker
    from podium.notify_webhooks_redis import RedisWebhooks
    from podium.region.notifications.inbox_redis import OUTBOX_KEY

    redis = connect(redis_url)
    store = RedisWebhooks(redis, settings.webhook_endpoints_max, len(bodies) + 1, settings.dead_letters_max)
    for endpoint in endpoints:
        await store.put_endpoint(endpoint)
    worker = DeliveryWorker(store, settings, SystemClock(), "bench")
    stop = asyncio.Event()
    want = len(bodies) * len(endpoints)
    t0 = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for body in bodies:
            pipe.xadd(OUTBOX_KEY, {"n": body})
        await pipe.execute()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while worker.counters.delivered + worker.counters.dead_lettered < want and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await redis.aclose()
    return elapsed, worker.counters.delivered, worker.counters.dead_lettered


def bench_webhooks(endpoints: int, events: int, failing_share: float = 0.0) -> dict[str, Any]:
    """`failing_share` of the endpoints answer 500 to everything: they are retried quickly and
    dead-lettered after a short deadline, and the lag is measured on the healthy ones only."""
    from podium.notify_webhooks import Endpoint

    failing = int(endpoints * failing_share)
    settings = NotificationSettings()
    if failing:
        settings = settings.model_copy(update={"webhook_retry_base_ms": 100, "webhook_retry_ms_max": 400,
                                               "webhook_deadline_ms": 2000})
    with Receiver() as receiver:
        hooks = [Endpoint(f"e{i}", receiver.failing_url(f"e{i}") if i < failing else receiver.url(f"e{i}"),
                          WEBHOOK_SECRET) for i in range(endpoints)]
        healthy = hooks[failing:]
        bodies = _notes(events, time.time_ns() // 1_000_000)
        base_s = asyncio.run(_baseline(healthy, bodies, settings.webhook_concurrency_max))
        receiver.take()
        with tempfile.TemporaryDirectory(prefix="podium-bench-notify-") as tmp, \
                RedisServer(Path(tmp), appendonly=False) as server:
            enqueued_ms = time.time_ns() // 1_000_000
            bodies = _notes(events, enqueued_ms)
            podium_s, delivered, dead = asyncio.run(_podium(server.url, hooks, bodies, settings))
        lags = [arrived - enqueued_ms for _, arrived in receiver.take()]
    total = events * endpoints
    return {"endpoints": endpoints, "events": events, "failing_endpoints": failing, "deliveries": total,
            "delivered": delivered, "dead_lettered": dead, "lost": total - delivered - dead,
            "baseline_deliveries_per_s": round(events * len(healthy) / base_s, 1),
            "podium_deliveries_per_s": round(total / podium_s, 1),
            "lag_from_enqueue_ms": {"p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99), "max": _pct(lags, 1.0)},
            "settings": {"webhook_poll_ms": settings.webhook_poll_ms,
                         "webhook_concurrency_max": settings.webhook_concurrency_max}}


def scenario_notifications(players: int, rules: int, ticks: int, changes_per_tick: int, endpoints: int,
                           events: int, live: Any = None) -> dict[str, Any]:
    """`live`: a BenchConfig whose notify_* sizes run the live-region half (None: not run)."""
    try:
        r = bench_rules(players, rules, ticks, changes_per_tick)
        w = bench_webhooks(endpoints, events)
    except Exception as exc:  # reported, not fatal
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    live_res = _live(players, rules, live) if live is not None else {"status": "skipped", "reason": "not asked"}
    return {"status": "measured", "rules": r, "webhooks": w, "live": live_res, "ratios": {
        "ticks_with_rules_vs_without": round(r["podium_ticks_per_s"] / r["baseline_ticks_per_s"], 3),
        "worker_vs_direct_httpx": round(w["podium_deliveries_per_s"] / w["baseline_deliveries_per_s"], 3)}}


def _live(players: int, rules: int, cfg: Any) -> dict[str, Any]:
    from podium.devtools.bench.notifications_live import scenario_live

    try:
        return scenario_live(players, rules, cfg.notify_ingest_rounds, cfg.notify_ingest_seconds,
                             cfg.notify_inbox_players, cfg.notify_inbox_notes, cfg.notify_query_rps,
                             cfg.notify_query_seconds, cfg.notify_compare_redis)
    except Exception as exc:  # reported, not fatal
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}


def markdown_rows(res: dict[str, Any]) -> list[str]:
    from podium.devtools.bench.notifications_live import markdown_rows as live_rows

    if res.get("status") != "measured":
        return [f"| notifications | not measured ({res.get('error', res.get('reason', ''))}) | | | |"]
    r, w, q = res["rules"], res["webhooks"], res["ratios"]
    return [
        (f"| notification rules (board ticks/s, {r['rules']} rules, {r['players']:,} players, slice {r['slice']}, "
         f"{r['changes_per_tick']} changes/tick) | {r['podium_ticks_per_s']:,.0f} | the tick without rules | "
         f"{r['baseline_ticks_per_s']:,.0f} | {q['ticks_with_rules_vs_without']} |"),
        f"| rule evaluations/s | {r['rule_evaluations_per_s']:,.0f} | | | |",
        (f"| rules' share of one core at one evaluation per {r['tick_ms']} ms tick (evaluate − bare tick) | "
         f"{r['evaluate_core_share_at_tick']:.1%} | | | |"),
        (f"| webhook deliveries/s ({w['endpoints']} endpoints × {w['events']} events, local receiver) | "
         f"{w['podium_deliveries_per_s']:,.0f} | httpx posting directly, same concurrency | "
         f"{w['baseline_deliveries_per_s']:,.0f} | {q['worker_vs_direct_httpx']} |"),
        (f"| webhook lag from enqueue p50/p99 (ms), lost | {w['lag_from_enqueue_ms']['p50']}/"
         f"{w['lag_from_enqueue_ms']['p99']}, {w['lost']} | | | |"),
        *live_rows(res.get("live", {})),
    ]

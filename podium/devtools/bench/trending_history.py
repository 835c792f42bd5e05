"""`podium bench trending`, part "history_exact_30d": the exact 30-day `trending` read of a stream
with 30 days of history and at least 1M distinct items, answered by the region server (its
threshold merge), against the whole union of the same buckets (`ZUNIONSTORE`, the path exact reads
took before, and still take past the merge's page budget) timed in the same run on the same Redis.

The history is written through the region's own store adapter (`RedisTrendingStore.apply_columns`)
in time order: the HTTP API refuses events older than a stream's lateness (a day at most), so 30
days of past events cannot be sent to it. Each day has a Zipf head over the same million ranks
(Pareto ranks, weight 1) and a tail of items seen only that day (weight 1-3), the tails together
making the distinct items. Every read is checked against the brute-force top-10 of the events."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import httpx

from podium.config import TrendingSettings
from podium.devtools.bench.stack import ADMIN_KEY
from podium.redis_client import connect

STREAM = "bench-trending-history"
DAYS = 30
DAY_MS = 86_400_000
HEAD_PER_DISTINCT = 0.03     # head events per day, per distinct item (30,000 a day for 1M items)
BATCH_EVENTS = 10_000
K = 10
UNION_READS_MAX = 5      # the whole union takes tens of seconds at 1M items: a few reads make its baseline
UNION_TTL_S = 1.1        # a little over trending.union_ttl_ms: no read reuses a merged range
QUERY = ("query($s:String!){ trending(stream:$s, last:\"30d\", k:10, precision:EXACT){"
         " from to buckets items { item count } } }")
SPEC = {"id": STREAM, "lateness_ms": 3_600_000, "items_per_bucket_max": 1_000_000, "sketch_lg_size": 10,
        "day_buckets_kept": 400, "hour_buckets_kept": 840, "minute_buckets_kept": 2880}


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def _days(distinct: int, now_ms: int, rng: random.Random) -> list[list[tuple[str, int, int]]]:
    """Per day (oldest first), its (item, at, weight) events in time order."""
    tail = -(-distinct // DAYS)
    out = []
    for d in range(DAYS, 0, -1):
        start = now_ms - d * DAY_MS
        events = [(f"h-{min(1_000_000, int(rng.paretovariate(1.1)))}", start + rng.randrange(DAY_MS), 1)
                  for _ in range(max(100, int(distinct * HEAD_PER_DISTINCT)))]
        events += [(f"t-{d}-{j}", start + rng.randrange(DAY_MS), 1 + rng.randrange(3)) for j in range(tail)]
        events.sort(key=lambda e: e[1])
        out.append(events)
    return out


async def _backfill(redis_url: str, days: list[list[tuple[str, int, int]]]) -> float:
    from podium.region.trending.events import TrendEvent
    from podium.region.trending.ingest_plan import EventColumns
    from podium.region.trending.store_redis import RedisTrendingStore
    from podium.region.trending.streams import StreamSpec

    limits = TrendingSettings()
    spec = StreamSpec.from_dict(SPEC, limits)
    redis = connect(redis_url)
    store = RedisTrendingStore(redis, limits)
    t0 = time.perf_counter()
    try:
        n = 0
        for events in days:
            for lo in range(0, len(events), BATCH_EVENTS):
                chunk = [TrendEvent(STREAM, item, at, w, f"e{n + i}", ())
                         for i, (item, at, w) in enumerate(events[lo : lo + BATCH_EVENTS])]
                n += len(chunk)
                await store.apply_columns(spec, EventColumns.of_events(chunk), chunk[-1].at_ms)
        await store.compactor.settle()
    finally:
        await redis.aclose()
    return time.perf_counter() - t0


def _truth(days: list[list[tuple[str, int, int]]], a: int, b: int) -> list[tuple[str, int]]:
    """The brute-force top-K of the events in [a, b)."""
    totals: Counter[str] = Counter()
    for events in days:
        for item, at, w in events:
            if a <= at < b:
                totals[item] += w
    return sorted(totals.items(), key=lambda p: (-p[1], p[0]))[:K]


async def _union_reads(redis_url: str, reads: int, days: list[list[tuple[str, int, int]]]) -> dict[str, Any]:
    """The whole union of the same cover, and the threshold merge's work on it, in this process."""
    import redis.asyncio as aioredis

    from podium.region.trending import threshold_merge
    from podium.region.trending.store_redis import RedisTrendingStore
    from podium.region.trending.streams import StreamSpec
    from podium.region.trending.threshold_merge_redis import SUMS, RedisBucketPages
    from podium.replication.trending_buckets import cover, resolve_range, widen_to_retention

    limits = TrendingSettings()
    spec = StreamSpec.from_dict(SPEC, limits)
    # no client time-out here: the union's whole duration is the baseline (the server gives up at 2 s)
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=600)
    try:
        union_store = RedisTrendingStore(redis, TrendingSettings(exact_pages_max=0))   # always the whole union
        now = time.time_ns() // 1_000_000
        a, b = resolve_range(now, last="30d")
        a = widen_to_retention(a, now, {r: spec.kept(r) for r in spec.resolutions})
        buckets = cover(a, b, spec.resolutions)
        truth = _truth(days, a, b)
        samples, equal = [], True
        for _ in range(reads):
            await asyncio.sleep(UNION_TTL_S)
            t = time.perf_counter()
            rows, _o, _t = await union_store.read_exact(spec, buckets, "", K)
            samples.append((time.perf_counter() - t) * 1000)
            equal = equal and rows == truth
        keys = RedisTrendingStore.count_keys(spec, buckets, "")
        reader = RedisBucketPages(redis, redis.register_script(SUMS), keys, _plain)
        ranked, stats = await threshold_merge.top_k(reader, len(keys), K, limits.exact_page_items,
                                                    limits.exact_pages_max)
    finally:
        await redis.aclose()
    return {"reads": reads, "p50_ms": _pct(samples, 0.5), "p99_ms": _pct(samples, 0.99), "equals_exact_top10": equal,
            "buckets": len(buckets), "merge_pages": stats.pages, "merge_rounds": stats.rounds,
            "merge_candidates": stats.candidates, "merge_resolved": stats.resolved,
            "merge_equals_exact_top10": ranked is not None and [(m.decode(), c) for m, c in ranked] == truth}


async def _plain(aw: Any) -> Any:
    return await aw


def history_exact(base: str, redis_url: str, distinct: int, reads: int) -> dict[str, Any]:
    r = httpx.post(f"{base}/v1/admin/streams", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30,
                   json=SPEC)
    if r.status_code not in (201, 409):
        return {"status": "failed", "reason": r.text[:200]}
    now = time.time_ns() // 1_000_000
    days = _days(distinct, now, random.Random(30))
    distinct_items = len({item for events in days for item, _at, _w in events})
    truths: dict[tuple[int, int], list[tuple[str, int]]] = {}
    backfill_s = asyncio.run(_backfill(redis_url, days))
    samples, refused, equal = [], [], True
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(reads):
            time.sleep(UNION_TTL_S)
            t = time.perf_counter()
            doc = client.post("/graphql", json={"query": QUERY, "variables": {"s": STREAM}}).json()
            elapsed = (time.perf_counter() - t) * 1000
            if "errors" in doc:        # e.g. the store timed out (UNAVAILABLE): counted, not timed
                refused.append({"ms": round(elapsed, 1), "error": str(doc["errors"])[:200]})
                continue
            samples.append(elapsed)
            answer = doc["data"]["trending"]
            span = (int(answer["from"]), int(answer["to"]))       # the range the answer covers (whole hours at its start)
            truth = truths.get(span) or truths.setdefault(span, _truth(days, *span))
            equal = equal and [(i["item"], int(i["count"])) for i in answer["items"]] == truth
    union = asyncio.run(_union_reads(redis_url, min(reads, UNION_READS_MAX), days))
    p99 = _pct(samples, 0.99)
    return {"status": "measured" if samples else "failed", "distinct_items": distinct_items, "days": DAYS,
            "events": sum(map(len, days)), "backfill_s": round(backfill_s, 1), "reads": reads,
            "errors": refused, "p50_ms": _pct(samples, 0.5), "p99_ms": p99, "equals_exact_top10": equal,
            "baseline_union": union, "p99_vs_union_p99": round(p99 / max(1e-3, union["p99_ms"]), 4)}


def main() -> None:
    """`python -m podium.devtools.bench.trending_history [distinct] [reads]`: this part alone."""
    import json
    import sys

    from podium.devtools.bench.stack import BenchStack

    distinct = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    reads = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with BenchStack() as stack:
        print(json.dumps(history_exact(stack.url, stack.redis.url, distinct, reads), indent=1))


if __name__ == "__main__":
    main()


def markdown_rows(res: dict[str, Any]) -> list[str]:
    if res.get("status") != "measured":
        return [f"| trending EXACT 30d history | not measured ({str(res.get('errors') or res.get('reason'))[:120]}) | | | |"]
    u = res["baseline_union"]
    return [(f"| trending EXACT 30d p99 (ms), {res['distinct_items']:,} distinct items over 30 days, threshold merge "
            f"(equals the exact top-10: {res['equals_exact_top10']}; {len(res['errors'])} refused) | {res['p99_ms']} | "
            f"whole union (ZUNIONSTORE) p99, same buckets | {u['p99_ms']} | {res['p99_vs_union_p99']} |")]

"""World-wide trending, measured in one process on one real redis-server (a database per region
and one for the global tier), with baselines from the same run:
  * ingest: the count script with and without marking cells for the global tier (interleaved
    batches of 10,000 events), client and Redis CPU per event;
  * shipping: cells per second from three regions' outboxes into the global store (the region's
    read, the wire encoding, the global tier's decode and conditional write; no HTTP hop);
  * reads: the global tier's `trending` (3 regions merged) against one region's, same range and K.

    python -m podium.devtools.bench.trending_global [--events 60000] [--reads 30]

`podium bench trending` runs it too (`scenario_trending_global`, with the ratios to its baselines)."""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from podium.clock import SystemClock
from podium.config import TrendingSettings
from podium.global_.trending_service import GlobalTrending
from podium.global_.trending_store_redis import GlobalTrendingStore
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer
from podium.region.idempotency_redis import IdempotencyStore
from podium.region.trending.events import TrendEvent
from podium.region.trending.service import TrendingService
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.shipper import TrendingShipper
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_topk import Precision

REGIONS = ("ap-south", "eu-west", "us-east")
LIMITS = TrendingSettings()
SPEC = StreamSpec("bench-global", minute_buckets_kept=10_080)
BATCH = 10_000


class InProcessTransport:
    """The global tier's intake called directly (the body as it would arrive, already verified)."""

    def __init__(self, trending: GlobalTrending) -> None:
        self.trending = trending

    async def send_trending(self, region: str, body: bytes) -> dict[str, Any]:
        reply: dict[str, Any] = await self.trending.intake(orjson.loads(body))
        return reply

    async def aclose(self) -> None:
        return None


def _batch(rng: random.Random, n: int, now: int, prefix: str, span_ms: int) -> list[TrendEvent]:
    return [TrendEvent(SPEC.id, f"map-{min(5000, int(rng.paretovariate(1.1)))}", now - rng.randrange(span_ms), 1,
                       f"{prefix}-{i}") for i in range(n)]


async def _redis_cpu(redis: AnyRedis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)


async def run(url_base: str, events: int, reads: int) -> dict[str, Any]:
    clock = SystemClock()
    rng = random.Random(7)
    out: dict[str, Any] = {}
    # ingest, marks off vs on, interleaved
    redis = connect(f"{url_base}/9")
    store = RedisTrendingStore(redis, LIMITS, clock)
    await StreamRegistry(redis, clock, LIMITS).create(SPEC, exist_ok=True)
    sums = {False: [0.0, 0.0, 0.0, 0], True: [0.0, 0.0, 0.0, 0]}
    now = clock.now_ms()
    for round_ in range(2 + 2 * max(1, events // BATCH)):       # the first two rounds warm up (not counted)
        marks = bool(round_ % 2)
        store.ship_marks = marks
        batch = _batch(rng, BATCH, now, f"i{round_}", 600_000)
        r0, c0, t0 = await _redis_cpu(redis), time.process_time(), time.perf_counter()
        await store.apply(SPEC, batch)
        t1, c1, r1 = time.perf_counter(), time.process_time(), await _redis_cpu(redis)
        if round_ < 2:
            continue
        s = sums[marks]
        s[0] += t1 - t0
        s[1] += c1 - c0
        s[2] += r1 - r0
        s[3] += len(batch)
    for marks, (wall, cpu, rcpu, n) in sums.items():
        out[f"ingest_marks_{'on' if marks else 'off'}"] = {
            "events_per_s": round(n / wall), "client_cpu_us_per_event": round(1e6 * cpu / n, 2),
            "redis_cpu_us_per_event": round(1e6 * rcpu / n, 2)}
    await redis.aclose()
    # three regions' data, shipped into the global store
    global_redis = connect(f"{url_base}/0")
    trending = GlobalTrending(GlobalTrendingStore(global_redis, LIMITS.global_streams_max), LIMITS, clock)
    regions = []
    for i, name in enumerate(REGIONS):
        r = connect(f"{url_base}/{i + 1}")
        rstore = RedisTrendingStore(r, LIMITS, clock)
        rstore.ship_marks = True
        streams = StreamRegistry(r, clock, LIMITS)
        await streams.create(SPEC, exist_ok=True)
        for b in range(max(1, events // BATCH)):
            await rstore.apply(SPEC, _batch(rng, BATCH, clock.now_ms(), f"{name}-{b}", 6 * 3_600_000))
        service = TrendingService(rstore, streams, IdempotencyStore(r, 60_000), LIMITS, clock)
        shipper = TrendingShipper(TrendingOutbox(r, LIMITS.ship_exact_items_max), streams,
                                  InProcessTransport(trending), name, clock, LIMITS)
        regions.append((r, service, shipper))
    t0, c0 = time.perf_counter(), time.process_time()
    cells = 0
    for _r, _s, shipper in regions:
        cells += await shipper.ship_once()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out["ship"] = {"cells": cells, "cells_per_s": round(cells / wall), "cpu_ms_per_cell": round(1000 * cpu / cells, 3)}
    # reads: one region vs the global tier, same query
    for precision in (Precision.EXACT, Precision.APPROXIMATE):
        for last in ("1h", "6h"):
            region_t, global_t = [], []
            labels = set()
            for _ in range(reads):
                t = time.perf_counter()
                await regions[0][1].query(SPEC.id, last=last, k=10, precision=precision)
                region_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                answer = await trending.query(SPEC.id, last=last, k=10, precision=precision)
                global_t.append(time.perf_counter() - t)
                labels.add(answer.answer.precision.value)
            out[f"read_{precision.value.lower()}_{last}"] = {
                "region_p50_ms": _pct(region_t, 0.5), "region_p99_ms": _pct(region_t, 0.99),
                "global_p50_ms": _pct(global_t, 0.5), "global_p99_ms": _pct(global_t, 0.99),
                "global_labels": sorted(labels)}
    for r, _s, _sh in regions:
        await r.aclose()
    await global_redis.aclose()
    return out


def ratios(out: dict[str, Any]) -> dict[str, float]:
    """World-wide trending against its same-run baselines: Redis CPU per event with cells marked for
    shipping against without, and the global tier's read p99 against one region's (same range, K)."""
    on, off = out["ingest_marks_on"], out["ingest_marks_off"]
    ratios = {"marks_on_vs_off_redis_cpu": round(on["redis_cpu_us_per_event"] / max(1e-3, off["redis_cpu_us_per_event"]), 3)}
    for name, row in out.items():
        if name.startswith("read_"):
            ratios[f"global_vs_region_{name[5:]}_p99"] = round(row["global_p99_ms"] / max(1e-3, row["region_p99_ms"]), 3)
    return ratios


def scenario_trending_global(events: int, reads: int) -> dict[str, Any]:
    """The measurement above on its own redis-server, as a `podium bench trending` part."""
    with tempfile.TemporaryDirectory(prefix="podium-bench-global-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        try:
            out = asyncio.run(run(server.url.rsplit("/", 1)[0], events, reads))
        finally:
            server.stop()
    return {"status": "measured", "events_per_region": max(1, events // BATCH) * BATCH, "reads": reads, **out,
            "ratios": ratios(out)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=60_000, help="events per region (and per ingest variant)")
    p.add_argument("--reads", type=int, default=30)
    args = p.parse_args()
    print(orjson.dumps(scenario_trending_global(args.events, args.reads), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""`podium bench trending`: event ingest, ack latency at half load and top-K reads of the trending
room, against a region server in its own process, with baselines measured in the same run on the
same events: a plain Redis ZINCRBY per bucket (pipelined) and a SQL GROUP BY in SQLite. Two more
parts: the exact 30-day read of a wide stream (1M distinct items by default; checked against the
exact top-10, each read past the server's merged-range cache) against SQLite's GROUP BY over the
same events, and world-wide trending (trending_global.py) against its same-run baselines. Reads
and acks also report the region process's and Redis's CPU per operation, and APPROXIMATE 30-day
reads are timed again while batches keep arriving (trending_during_ingest.py)."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from podium.devtools.bench import server_side
from podium.devtools.bench.stack import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET, BenchStack
from podium.signing import signed_headers

STREAM = "bench-trending"
WIDE_STREAM = "bench-trending-wide"
UNION_TTL_S = 1.1            # a little over trending.union_ttl_ms: every wide read merges afresh
BATCH_EVENTS = 10_000
ACK_BATCH_EVENTS = 500
ITEMS = 100_000
SPAN_MS = 3_000_000          # events land in the last 50 minutes (within the stream's lateness)
READS = {"exact_3h": ("EXACT", "3h"), "exact_30d": ("EXACT", "30d"),
         "approximate_3h": ("APPROXIMATE", "3h"), "approximate_30d": ("APPROXIMATE", "30d")}
QUERY = ("query($s:String!,$l:String!,$p:Precision!){ trending(stream:$s, last:$l, k:10, precision:$p){"
         " total guaranteed items { item count errorBound } } }")


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _events(n: int, now_ms: int, rng: random.Random, prefix: str) -> list[dict[str, Any]]:
    """Zipf-like items (Pareto ranks), times spread over the last SPAN_MS, two modes."""
    return [{"stream": STREAM, "item": f"map-{min(ITEMS, int(rng.paretovariate(1.1)))}",
             "at": now_ms - rng.randrange(SPAN_MS), "event_id": f"{prefix}-{i}",
             "dims": {"mode": "ranked" if i % 3 else "casual"}} for i in range(n)]


def _post(client: httpx.Client, events: list[dict[str, Any]], retries: int = 0) -> tuple[float, int]:
    """Posts one signed batch; a retryable 503 is retried (signed afresh) up to `retries` times
    after its Retry-After: event ids make a resent batch count once."""
    raw = orjson.dumps({"events": events})
    for attempt in range(retries + 1):
        headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/events", time.time_ns() // 1_000_000, raw)
        t0 = time.perf_counter()
        r = client.post("/v1/events", content=raw, headers=headers)
        elapsed = time.perf_counter() - t0
        if r.status_code == 503 and attempt < retries:
            time.sleep(float(r.headers.get("retry-after", "1")))
            continue
        r.raise_for_status()
    return elapsed, int(r.json()["counts"]["applied"])


def _signed(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps({"events": events})
    return raw, signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/events", time.time_ns() // 1_000_000, raw)


async def _ingest(url: str, batches: list[list[dict[str, Any]]], concurrency: int) -> tuple[float, int]:
    """Posts the batches from `concurrency` connections; bodies are encoded and signed before the
    clock starts (well inside the signature window), so the client's JSON work is not measured."""
    signed = [_signed(events) for events in batches]
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        applied = 0

        async def worker() -> None:
            nonlocal applied
            while signed:
                raw, headers = signed.pop()
                r = await client.post("/v1/events", content=raw, headers=headers)
                r.raise_for_status()
                applied += int(orjson.loads(r.content)["counts"]["applied"])

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, applied


def _cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_event_us(before: float | None, after: float | None, events: int) -> float | None:
    if before is None or after is None or not events:
        return None
    return round((after - before) / events * 1e6, 2)


def _zincrby_baseline(url: str, batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """What a user writes by hand: ZINCRBY into a minute, an hour and a day key per event, one
    pipeline per 10,000-event batch (no validation, dedup, caps, dimensions or sketches)."""
    client = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    n = 0
    for events in batches:
        pipe = client.pipeline(transaction=False)
        for e in events:
            at = e["at"]
            for size in (60_000, 3_600_000, 86_400_000):
                pipe.zincrby(f"baseline:{size}:{at - at % size}", 1, e["item"])
        pipe.execute()
        n += len(events)
    seconds = time.perf_counter() - t0
    for key in client.scan_iter("baseline:*"):
        client.delete(key)
    client.close()
    return {"measured": True, "items_per_s": round(n / seconds, 1)}


def _sqlite_baseline(batches: list[list[dict[str, Any]]], reads: int, now_ms: int) -> dict[str, Any]:
    """The same events in one indexed SQLite table; top-10 by SQL GROUP BY over 3 h and 30 days."""
    with tempfile.TemporaryDirectory(prefix="podium-bench-sqlite-") as tmp:
        db = sqlite3.connect(str(Path(tmp) / "events.db"))
        db.execute("CREATE TABLE events (item TEXT, at INTEGER, weight INTEGER, mode TEXT)")
        db.execute("CREATE INDEX events_at ON events (at)")
        t0 = time.perf_counter()
        for events in batches:
            db.executemany("INSERT INTO events VALUES (?, ?, 1, ?)",
                           [(e["item"], e["at"], e["dims"]["mode"]) for e in events])
            db.commit()
        insert_s = time.perf_counter() - t0
        n = sum(len(b) for b in batches)
        out: dict[str, Any] = {"measured": True, "items_per_s": round(n / insert_s, 1)}
        for name, span_ms in (("3h", 3 * 3_600_000), ("30d", 30 * 86_400_000)):
            samples = []
            for _ in range(reads):
                t = time.perf_counter()
                db.execute("SELECT item, SUM(weight) AS c FROM events WHERE at >= ? AND at < ? GROUP BY item "
                           "ORDER BY c DESC, item LIMIT 10", (now_ms - span_ms, now_ms + 60_000)).fetchall()
                samples.append((time.perf_counter() - t) * 1000)
            out[f"group_by_{name}_p50_ms"] = _pct(samples, 0.5)
            out[f"group_by_{name}_p99_ms"] = _pct(samples, 0.99)
        db.close()
    return out


def _wide_batches(distinct: int, now_ms: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Every item once, with a random weight: `distinct` items in the range, in 10,000-event batches."""
    return [[{"stream": WIDE_STREAM, "item": f"w-{i}", "at": now_ms - rng.randrange(SPAN_MS), "event_id": f"w{i}",
              "weight": 1 + rng.randrange(1000)} for i in range(lo, min(distinct, lo + BATCH_EVENTS))]
            for lo in range(0, distinct, BATCH_EVENTS)]


def _wide_exact(base: str, distinct: int, reads: int) -> dict[str, Any]:
    """Exact `trending` over the last 30 days of a stream with `distinct` items, against the exact
    top-10 and SQLite's GROUP BY over the same events (same run)."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = httpx.post(f"{base}/v1/admin/streams", headers=admin, timeout=30,
                   json={"id": WIDE_STREAM, "lateness_ms": 3_600_000, "items_per_bucket_max": 1_000_000,
                         "sketch_lg_size": 10})
    if r.status_code not in (201, 409):
        return {"status": "failed", "reason": r.text[:200]}
    now = time.time_ns() // 1_000_000
    batches = _wide_batches(distinct, now, random.Random(16))
    with httpx.Client(base_url=base, timeout=300) as client:
        for events in batches:
            _post(client, events, retries=10)      # a loaded machine's Redis may time out (503)
        truth = sorted(((e["item"], e["weight"]) for b in batches for e in b), key=lambda p: (-p[1], p[0]))[:10]
        samples, answer, refused = [], None, []
        for _ in range(reads):
            time.sleep(UNION_TTL_S)
            t = time.perf_counter()
            resp = client.post("/graphql", json={"query": QUERY, "variables": {"s": WIDE_STREAM, "l": "30d",
                                                                                "p": "EXACT"}})
            elapsed = (time.perf_counter() - t) * 1000
            doc = resp.json()
            if "errors" in doc:        # e.g. the store timed out (UNAVAILABLE): counted, not timed
                refused.append({"ms": round(elapsed, 1), "error": str(doc["errors"])[:200]})
                continue
            samples.append(elapsed)
            answer = doc["data"]["trending"]
    if answer is None:
        return {"status": "failed", "distinct_items": distinct, "reads": reads, "errors": refused}
    with tempfile.TemporaryDirectory(prefix="podium-bench-sqlite-") as tmp:
        db = sqlite3.connect(str(Path(tmp) / "wide.db"))
        db.execute("CREATE TABLE events (item TEXT, at INTEGER, weight INTEGER)")
        db.execute("CREATE INDEX events_at ON events (at)")
        for events in batches:
            db.executemany("INSERT INTO events VALUES (?, ?, ?)", [(e["item"], e["at"], e["weight"]) for e in events])
        db.commit()
        sql = []
        for _ in range(reads):
            t = time.perf_counter()
            db.execute("SELECT item, SUM(weight) AS c FROM events WHERE at >= ? AND at < ? GROUP BY item "
                       "ORDER BY c DESC, item LIMIT 10", (now - 30 * 86_400_000, now + 60_000)).fetchall()
            sql.append((time.perf_counter() - t) * 1000)
        db.close()
    p99 = _pct(samples, 0.99)
    return {"status": "measured", "distinct_items": distinct, "reads": reads, "errors": refused,
            "p50_ms": _pct(samples, 0.5),
            "p99_ms": p99, "equals_exact_top10": [(i["item"], int(i["count"])) for i in answer["items"]] == truth,
            "sqlite_group_by_30d_p50_ms": _pct(sql, 0.5), "sqlite_group_by_30d_p99_ms": _pct(sql, 0.99),
            "p99_vs_sqlite_group_by_30d_p99": round(p99 / max(1e-3, _pct(sql, 0.99)), 3)}


def scenario_trending(stack: BenchStack, batches_n: int, ack_batches: int, reads: int,
                      wide: tuple[int, int] | None = None, world: tuple[int, int] | None = None) -> dict[str, Any]:
    """`wide`: (distinct items, reads) of the wide stream's exact read; `world`: (events per
    region, reads) of the world-wide part. Either is left out when None."""
    base = stack.url
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = httpx.post(f"{base}/v1/admin/streams", headers=admin, timeout=30,
                   json={"id": STREAM, "dimensions": ["mode"], "lateness_ms": 3_600_000,
                         "items_per_bucket_max": 1_000_000, "sketch_lg_size": 10})
    if r.status_code not in (201, 409):
        return {"status": "failed", "reason": r.text[:200]}
    rng = random.Random(4)
    now = time.time_ns() // 1_000_000
    batches = [_events(BATCH_EVENTS, now, rng, f"b{i}") for i in range(batches_n)]
    pids = (stack.process.pid if stack.process else None, stack.redis.process.pid if stack.redis.process else None)
    cpu0 = [_cpu_s(pid) for pid in pids]
    seconds, applied = asyncio.run(_ingest(base, batches, 2))
    cpu1 = [_cpu_s(pid) for pid in pids]
    events_per_s = round(applied / seconds, 1)
    # CPU per event of the region process and of Redis: what the ingest costs whatever else runs on
    # the machine (events/s above is wall clock, so it falls with the machine's load)
    server_us, redis_us = (_cpu_per_event_us(a, b, applied) for a, b in zip(cpu0, cpu1, strict=True))
    # ack latency at half the measured load: 500-event batches paced at events_per_s / 2
    interval_s = ACK_BATCH_EVENTS / max(1.0, events_per_s / 2)
    acks = []
    # the server's own histogram of the route beside the client's clock: the client's figure also
    # holds its own scheduling on the shared cores
    hist0 = server_side.scrape_buckets(base, "/v1/events")
    cpu_a0 = [_cpu_s(pid) for pid in pids]
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(ack_batches):
            started = time.perf_counter()
            elapsed, _ = _post(client, _events(ACK_BATCH_EVENTS, now, rng, f"a{i}"))
            acks.append(elapsed * 1000)
            time.sleep(max(0.0, interval_s - (time.perf_counter() - started)))
        cpu_a1 = [_cpu_s(pid) for pid in pids]
        hist1 = server_side.scrape_buckets(base, "/v1/events")
        ack_cpu_ms = [_cpu_per_event_us(a, b, ack_batches * 1000) for a, b in zip(cpu_a0, cpu_a1, strict=True)]
        ack_server_ms = {f"p{round(q * 100)}_ms": server_side.percentile(hist0, hist1, q) for q in (0.5, 0.99)}
        read_stats: dict[str, Any] = {}
        answers: dict[str, Any] = {}
        for name, (precision, last) in READS.items():
            samples = []
            cpu_r0 = [_cpu_s(pid) for pid in pids]
            for _ in range(reads):
                t = time.perf_counter()
                resp = client.post("/graphql", json={"query": QUERY, "variables": {"s": STREAM, "l": last,
                                                                                    "p": precision}})
                samples.append((time.perf_counter() - t) * 1000)
                doc = resp.json()
                if "errors" in doc:
                    return {"status": "failed", "reason": str(doc["errors"])[:300]}
                answers[name] = doc["data"]["trending"]
            # CPU per read of the region process and of Redis: what a read costs whatever else runs
            cpu_r1 = [_cpu_s(pid) for pid in pids]
            server_ms, redis_ms = (_cpu_per_event_us(a, b, reads * 1000) for a, b in zip(cpu_r0, cpu_r1, strict=True))
            read_stats[name] = {"requests": reads, "p50_ms": _pct(samples, 0.5), "p99_ms": _pct(samples, 0.99),
                                "cpu_ms_per_read": {"region_process": server_ms, "redis": redis_ms}}
    from podium.devtools.bench.trending_during_ingest import reads_during_ingest

    cpu_i0 = [_cpu_s(pid) for pid in pids]
    read_stats["approximate_30d_during_ingest"] = asyncio.run(reads_during_ingest(
        base, [_events(ACK_BATCH_EVENTS, now, rng, f"r{i}") for i in range(ack_batches)], interval_s, reads))
    cpu_i1 = [_cpu_s(pid) for pid in pids]
    read_stats["approximate_30d_during_ingest"]["cpu_s_of_the_phase"] = {
        side: round(b - a, 3) if a is not None and b is not None else None
        for side, a, b in zip(("region_process", "redis"), cpu_i0, cpu_i1, strict=True)}
    exact_top = [i["item"] for i in answers["exact_30d"]["items"]]
    approx_top = [i["item"] for i in answers["approximate_30d"]["items"]]
    zincrby = _zincrby_baseline(stack.redis.url, batches)
    sqlite = _sqlite_baseline(batches, reads, time.time_ns() // 1_000_000)
    parts: dict[str, Any] = {}
    if wide is not None:
        from podium.devtools.bench.trending_history import history_exact

        parts["wide_exact_30d"] = _wide_exact(base, *wide)
        parts["history_exact_30d"] = history_exact(base, stack.redis.url, *wide)
    if world is not None:
        from podium.devtools.bench.trending_global import scenario_trending_global

        parts["world"] = scenario_trending_global(*world)
    return {
        **parts,
        "status": "measured",
        "events": applied, "batch_events": BATCH_EVENTS, "distinct_items_max": ITEMS,
        "podium_events_per_s": events_per_s,
        "cpu_us_per_event": {"region_process": server_us, "redis": redis_us},
        "events_per_cpu_s": {"region_process": round(1e6 / server_us, 1) if server_us else None,
                             "redis": round(1e6 / redis_us, 1) if redis_us else None},
        "ack_500": {"batches": ack_batches, "rate_events_per_s": round(events_per_s / 2, 1),
                    "p50_ms": _pct(acks, 0.5), "p99_ms": _pct(acks, 0.99),
                    # interpolated within the histogram's buckets (5, 10, 25 ms ...): "between these bounds"
                    "server_side": {k: None if v is None else round(v, 2) for k, v in ack_server_ms.items()},
                    "cpu_ms_per_batch": {"region_process": ack_cpu_ms[0], "redis": ack_cpu_ms[1]}},
        "reads": read_stats,
        "approximate_top10_equals_exact": approx_top == exact_top,
        "approximate_guaranteed": answers["approximate_30d"]["guaranteed"],
        "baselines": {"redis_zincrby_per_bucket": zincrby, "sqlite_group_by": sqlite},
        "ratios": {
            "ingest_vs_redis_zincrby": round(events_per_s / zincrby["items_per_s"], 3),
            "ingest_vs_sqlite_insert": round(events_per_s / sqlite["items_per_s"], 3),
            "exact_30d_p99_vs_sqlite_group_by_30d_p99": round(
                read_stats["exact_30d"]["p99_ms"] / max(1e-3, sqlite["group_by_30d_p99_ms"]), 3),
            "approximate_30d_p99_vs_sqlite_group_by_30d_p99": round(
                read_stats["approximate_30d"]["p99_ms"] / max(1e-3, sqlite["group_by_30d_p99_ms"]), 3),
        },
    }


def markdown_rows(res: dict[str, Any]) -> list[str]:
    if res.get("status") != "measured":
        return [f"| trending | not measured ({res.get('reason', '')}) | | | |"]
    b, r = res["baselines"], res["ratios"]
    rows = [(f"| trending ingest (events/s, POST /v1/events, 10,000-event signed batches) | "
             f"{res['podium_events_per_s']:,.0f} | Redis ZINCRBY per bucket, pipelined | "
             f"{b['redis_zincrby_per_bucket']['items_per_s']:,.0f} | {r['ingest_vs_redis_zincrby']} |"),
            (f"| trending ingest (events/s) | {res['podium_events_per_s']:,.0f} | SQLite INSERT | "
             f"{b['sqlite_group_by']['items_per_s']:,.0f} | {r['ingest_vs_sqlite_insert']} |"),
            (f"| trending ack p99 (ms), 500-event batches at half load (server's histogram: "
             f"{res['ack_500'].get('server_side', {}).get('p99_ms')}) | {res['ack_500']['p99_ms']} | | | |")]
    per_cpu = res.get("events_per_cpu_s", {})
    if per_cpu.get("region_process"):
        rows.append(f"| trending ingest (events per CPU-second of the region process; of Redis) | "
                    f"{per_cpu['region_process']:,.0f} | Redis | {per_cpu['redis'] or 0:,.0f} | |")
    wide = res.get("wide_exact_30d", {})
    if wide.get("status") == "measured":
        rows.append(f"| trending EXACT 30d p99 (ms), {wide['distinct_items']:,} distinct items "
                    f"(equals the exact top-10: {wide['equals_exact_top10']}) | {wide['p99_ms']} | "
                    f"SQLite GROUP BY 30d p99 | {wide['sqlite_group_by_30d_p99_ms']} | "
                    f"{wide['p99_vs_sqlite_group_by_30d_p99']} |")
    if "history_exact_30d" in res:
        from podium.devtools.bench.trending_history import markdown_rows as history_rows

        rows += history_rows(res["history_exact_30d"])
    world = res.get("world", {})
    if world.get("status") == "measured":
        for name, ratio in world["ratios"].items():
            rows.append(f"| world-wide trending: {name} | | same-run baseline | | {ratio} |")
    for name, stats in res["reads"].items():
        span = next(part for part in name.split("_") if part in ("3h", "30d"))
        rows.append(f"| trending {name} p99 (ms, GraphQL, k=10) | {stats['p99_ms']} | SQLite GROUP BY {span} p99 | "
                    f"{b['sqlite_group_by'][f'group_by_{span}_p99_ms']} | "
                    f"{round(stats['p99_ms'] / max(1e-3, b['sqlite_group_by'][f'group_by_{span}_p99_ms']), 3)} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    """`python -m podium.devtools.bench.trending [batches ack_batches reads]`: the ingest, ack and read
    parts alone (no wide or world-wide part), printed as JSON (the quick figures of one change)."""
    import sys

    args = [int(a) for a in (sys.argv[1:] if argv is None else argv)]
    batches_n, ack_batches, reads = (args + [15, 60, 50][len(args):])[:3]
    with BenchStack() as stack:
        print(orjson.dumps(scenario_trending(stack, batches_n, ack_batches, reads), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

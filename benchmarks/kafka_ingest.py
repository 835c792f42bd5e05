"""Event-log ingest: acknowledged scores/s and ack latency for 500-entry batches posted to a region in
Kafka mode, and the end-to-end lag from the broker's acknowledgement to the entry being ranked.

Runs a redis-server, one Apache Kafka broker (`podium.devtools.kafka_broker`; or the cluster named by PODIUM_TEST_KAFKA),
a region server (`podium serve`) and one stream worker (`podium worker`), each its own process. The
load generator keeps `concurrency` signed batches in flight; a poller reads the board's per-partition
applied offsets (what `?wait=true` reads) every `poll_ms` to time ack → ranked. The baseline is the
direct path (no broker) measured in the same run, so results are comparable across machines.

    python benchmarks/kafka_ingest.py [--batches 60] [--concurrency 4] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from podium.devtools.kafka_broker import KafkaCluster
from podium.devtools.kafka_dist import kafka_version
from podium.devtools.testing import ServerProcess
from podium.keys import board_keys
from podium.redis_server import RedisServer
from podium.signing import signed_headers

KEY_ID, SECRET, ADMIN = "bench-gs", "bench-secret", "bench-admin"
BATCH_ENTRIES = 500


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _env(redis_url: str, bootstrap: str | None, prefix: str) -> dict[str, str]:
    env = {"REDIS_URL": redis_url, "PODIUM_REGION": "bench", "PODIUM_GAME_SERVER_KEYS": json.dumps({KEY_ID: SECRET}),
           "PODIUM_ADMIN_KEYS": json.dumps([ADMIN]), "PODIUM_API__RATE_LIMIT_PER_S": "1000000",
           "PODIUM_API__RATE_LIMIT_BURST": "1000000", "PODIUM_KAFKA__TOPIC_PREFIX": prefix,
           "PODIUM_KAFKA__TAKE_WITHIN_MS": "10"}
    if bootstrap:
        env["PODIUM_KAFKA__BOOTSTRAP"] = bootstrap
    return env


def _batch(rng: random.Random, board: str, players: int, n: int) -> list[dict[str, Any]]:
    now = time.time_ns() // 1_000_000
    return [{"board": board, "player": f"p{rng.randrange(players)}", "score": rng.randrange(1, 10_000),
             "achieved_at": now - 1000, "event_id": f"e{rng.getrandbits(64):x}"} for _ in range(n)]


async def _load(base: str, board: str, batches: int, concurrency: int, players: int, redis_url: str | None,
                prefix: str, scores_per_s: float | None = None) -> dict[str, Any]:
    """Posts `batches` batches with `concurrency` in flight, as fast as acknowledged or paced at `scores_per_s`."""
    rng = random.Random(7)
    ack_ms: list[float] = []
    lag_ms: list[float] = []
    pending: list[tuple[float, dict[int, int]]] = []   # (ack time, partition -> max offset) awaiting the worker
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)
    done = asyncio.Event()
    scores_topic = f"{prefix}.bench.scores"

    async def poster(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if scores_per_s:
                await asyncio.sleep(max(0.0, start + i * BATCH_ENTRIES / scores_per_s - time.perf_counter()))
            raw = orjson.dumps({"entries": _batch(rng, board, players, BATCH_ENTRIES)})
            h = signed_headers(KEY_ID, SECRET, "POST", "/v1/scores", time.time_ns() // 1_000_000, raw)
            t0 = time.perf_counter()
            r = await client.post(f"{base}/v1/scores", content=raw, headers=h)
            t1 = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"POST /v1/scores: {r.status_code} {r.text[:200]}")
            ack_ms.append((t1 - t0) * 1000)
            needed: dict[int, int] = {}
            for res in r.json()["results"]:
                if "offset" in res:
                    needed[res["partition"]] = max(res["offset"], needed.get(res["partition"], -1))
            if needed:
                pending.append((t1, needed))

    async def poller(redis: aioredis.Redis) -> None:
        key = board_keys(board, 0).offsets
        while not (done.is_set() and not pending):
            stored = {k.decode(): int(v) for k, v in (await redis.hgetall(key)).items()}
            now = time.perf_counter()
            still = []
            for acked_at, needed in pending:
                if all(stored.get(f"{scores_topic}:{p}", -1) >= off for p, off in needed.items()):
                    lag_ms.append((now - acked_at) * 1000)
                else:
                    still.append((acked_at, needed))
            pending[:] = still
            await asyncio.sleep(0.002)

    redis = aioredis.Redis.from_url(redis_url) if redis_url else None
    poll = asyncio.create_task(poller(redis)) if redis else None
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(poster(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    done.set()
    if poll is not None:
        await asyncio.wait_for(poll, 120)
        await redis.aclose()  # type: ignore[union-attr]
    out = {"scores_per_s": round(batches * BATCH_ENTRIES / elapsed), "ack_ms_p50": _pct(ack_ms, 0.5),
           "ack_ms_p99": _pct(ack_ms, 0.99), "ack_ms_mean": round(statistics.fmean(ack_ms), 2)}
    if redis_url:
        out |= {"ack_to_ranked_ms_p50": _pct(lag_ms, 0.5), "ack_to_ranked_ms_p99": _pct(lag_ms, 0.99)}
    return out


def _create_board(base: str, board: str) -> None:
    r = httpx.post(f"{base}/v1/admin/boards", json={"id": board, "operator": "best"},
                   headers={"Authorization": f"Bearer {ADMIN}"})
    if r.status_code not in (201, 409):
        raise RuntimeError(r.text)


def run(batches: int = 60, concurrency: int = 4, players: int = 100_000, direct_baseline: bool = True,
        paced_scores_per_s: float = 2000.0) -> dict[str, Any]:
    """Acked scores/s, ack p50/p99 (ms) and ack → ranked lag p50/p99 (ms) in Kafka mode, saturating
    (`kafka`: the lag is mostly the worker's backlog) and paced below the worker's rate (`kafka_paced`:
    the pipeline's own latency); the direct path (no broker) as the baseline, and the throughput ratio."""
    external = os.environ.get("PODIUM_TEST_KAFKA")
    with tempfile.TemporaryDirectory() as tmp:
        with RedisServer(Path(tmp) / "redis", appendonly=False) as redis_server:
            # the full JIT (fast_jit off): a benchmark measures the broker at its peak, not its start
            kafka = None if external else KafkaCluster(Path(tmp) / "kafka", heap_mb=512, fast_jit=False).start()
            bootstrap = external or kafka.bootstrap  # type: ignore[union-attr]
            prefix = f"bench{time.monotonic_ns() % 10**6}"
            result: dict[str, Any] = {"batch_entries": BATCH_ENTRIES, "batches": batches, "concurrency": concurrency,
                                      "broker": "PODIUM_TEST_KAFKA" if external else f"Apache Kafka {kafka_version()}, 1 broker"}
            if kafka is not None:
                result["broker_startup_s"] = round(kafka.startup_s or 0.0, 1)
            try:
                env = _env(redis_server.url, bootstrap, prefix)
                worker = subprocess.Popen([sys.executable, "-m", "podium", "worker"],
                                          env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    with ServerProcess(env) as server:
                        _create_board(server.url, "kbench")
                        asyncio.run(_load(server.url, "kbench", max(4, batches // 10), concurrency, players,
                                          redis_server.url, prefix))   # warm-up: worker joins, topics exist
                        result["kafka"] = asyncio.run(_load(server.url, "kbench", batches, concurrency, players,
                                                            redis_server.url, prefix))
                        time.sleep(2)   # let the worker drain the saturating run before the paced one
                        result["kafka_paced"] = asyncio.run(_load(
                            server.url, "kbench", max(4, batches // 2), concurrency, players, redis_server.url,
                            prefix, paced_scores_per_s))
                        result["kafka_paced"]["offered_scores_per_s"] = paced_scores_per_s
                finally:
                    worker.terminate()
                    worker.wait(timeout=30)
                if direct_baseline:
                    with ServerProcess(_env(redis_server.url, None, prefix)) as server:
                        _create_board(server.url, "dbench")
                        asyncio.run(_load(server.url, "dbench", max(4, batches // 10), concurrency, players, None, prefix))
                        result["direct"] = asyncio.run(_load(server.url, "dbench", batches, concurrency, players,
                                                             None, prefix))
                    result["kafka_vs_direct_throughput"] = round(
                        result["kafka"]["scores_per_s"] / result["direct"]["scores_per_s"], 2)
            finally:
                if kafka is not None:
                    kafka.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="20 batches")
    args = parser.parse_args()
    print(json.dumps(run(20 if args.quick else args.batches, args.concurrency), indent=2))


if __name__ == "__main__":
    main()

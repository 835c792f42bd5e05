"""The history writer's benchmarks (run through history_bench.py: --drain, --stages, --paced).

    --drain [--cassandra] [--batches 200] [--pages 1,3] [--page-entries 50] [--warmup-rows 0]
        the writer alone: one backlog of --batches × 1000 rows per variant, filled first (no writer
        running), then drained by one writer with `history.write_pages_in_flight_max` = each of
        --pages in turn (rows/s; CPU per row of client, node and Redis).
    --stages
        with --drain: each stage of the writer on its own, on one more backlog of the same size, in
        the same run: backlog read (XRANGE pages of --page-entries entries), decode, row encode
        (Cassandra), store write (page by page, then --pages' largest number at once), and the
        acknowledgement (XACK + XDEL per page).
    --paced [--cassandra] [--rate 15000] [--seconds 20] [--pages 3] [--senders 4]
        the writer end to end beside ingest at a set rate: batches refused (dropped), the backlog's
        length every second, drain time after the last batch, CPU per row.

On a shared machine the wall rates say what the other processes left; the CPU per row is the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from podium.region.history.backlog_redis import GROUP, RedisHistoryBacklog, _writer_rows
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import HistoryStore, ScoreRow
from podium.region.history.writer import HistoryWriter
from podium.region.rank_store_redis import RedisRankStore
from podium.region.wiring import build_region

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import HistorySettings, Settings
from podium.errors import Unavailable
from podium.keys import keys_of
from podium.model import Board, ScoreEntry
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer

Cassandra = Callable[[Path, str], AbstractAsyncContextManager[HistorySettings | None]]


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used: this one when pid is None."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time and CPU of this process, the Cassandra node and Redis over one measured stretch."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {"client": None, **{k: v for k, v in pids.items() if v}}
        self.start()

    def start(self) -> None:
        self.load = os.getloadavg()[0]
        self.t0 = time.perf_counter()
        self.cpu0 = {k: cpu_s(pid) for k, pid in self.pids.items()}

    def report(self, label: str, rows: int) -> str:
        took = time.perf_counter() - self.t0
        used = {k: cpu_s(pid) - self.cpu0[k] for k, pid in self.pids.items()}
        cost = ", ".join(f"{k} {v:.2f} CPU-s ({v * 1e6 / max(rows, 1):.1f} µs/row)" for k, v in used.items())
        return (f"{label}: {rows:,} rows in {took:.2f} s = {rows / max(took, 1e-9):,.0f} rows/s; {cost} "
                f"(load {self.load:.1f} → {os.getloadavg()[0]:.1f})")


def batches(n: int, seed: int, board: str = "ingest") -> list[list[dict[str, Any]]]:
    import random

    rng = random.Random(seed)
    now = int(time.time() * 1000) - 1000
    return [[{"board": board, "player": f"p{rng.randrange(100_000)}", "score": rng.randrange(10**6),
              "achieved_at": now - rng.randrange(1000), "event_id": f"s{seed}-b{b}-e{i}"} for i in range(1000)]
            for b in range(n)]


async def _fill(redis: AnyRedis, board: Board, n: int, seed: int) -> None:
    await BoardRegistry(redis, SystemClock()).create(board)
    ranks = RedisRankStore(redis, history_backlog_max=n + 1)
    now = int(time.time() * 1000)
    for raw in batches(n, seed, board.id):
        await ranks.apply(board, [ScoreEntry(board.id, e["player"], e["score"], e["achieved_at"], e["event_id"])
                                  for e in raw], now)


def _store(cassandra: HistorySettings | None, tmp: Path, name: str) -> HistoryStore:
    if cassandra is not None:
        return CassandraHistoryStore(cassandra.model_copy(update={"cassandra_keyspace": name}))
    return SqliteHistoryStore(tmp / f"{name}.sqlite3")


async def _read_pages(redis: AnyRedis, stream: str, size: int) -> list[list[Any]]:
    """The whole backlog as XREADGROUP would hand it to the writer, without moving entries into
    the pending list."""
    pages: list[list[Any]] = []
    start = "-"
    while True:
        chunk = await redis.xrange(stream, min=start, max="+", count=size)
        if chunk:
            pages.append(chunk)
        if len(chunk) < size:
            return pages
        start = "(" + chunk[-1][0].decode()


async def _stages(redis: AnyRedis, store: HistoryStore, board: Board, meter: Meter, args: argparse.Namespace) -> None:
    """Each stage of the writer on its own over one filled backlog."""
    stream = keys_of(board).history
    total = args.batches * 1000
    for size in sorted({10, 200} - {args.page_entries}):   # other page sizes; the one used last
        meter.start()
        pages = await _read_pages(redis, stream, size)
        print("  " + meter.report(f"read ({len(pages)} XRANGE pages of {size} entries)", total))
    meter.start()
    pages = await _read_pages(redis, stream, args.page_entries)
    print("  " + meter.report(f"read ({len(pages)} XRANGE pages of {args.page_entries} entries)", total))
    meter.start()
    rows: list[list[ScoreRow]] = [[r for _i, f in page for r in _writer_rows(f)] for page in pages]
    print("  " + meter.report("decode", total))
    if isinstance(store, CassandraHistoryStore):
        meter.start()
        encoded = [await store.score_batches(page) for page in rows]
        print("  " + meter.report(f"encode ({sum(map(len, encoded))} batches)", total))
        meter.start()
        for b in encoded:
            await store.send_batches(b)
        print("  " + meter.report("store write, page by page", total))
        meter.start()
        await store.send_batches([b for page in encoded for b in page])
        print("  " + meter.report("store write, every page at once (the store's in-flight bound)", total))
    else:
        meter.start()
        for page_rows in rows:
            await store.append_scores(page_rows)
        print("  " + meter.report("store write (encode included), page by page", total))
    await redis.xgroup_create(stream, GROUP, id="0")
    await redis.xreadgroup(GROUP, "stages", {stream: ">"})   # everything pending, as the writer leaves it
    meter.start()
    backlog = RedisHistoryBacklog(redis, "stages", 60_000)
    for page in pages:
        await backlog.ack(board, [i.decode() for i, _f in page])
    print("  " + meter.report("acknowledge (XACK + XDEL per page)", total))


async def drain(args: argparse.Namespace, tmp: Path, cassandra_of: Cassandra, node_pids: dict[str, int]) -> None:
    variants = [int(p) for p in str(args.pages).split(",")]
    with RedisServer(tmp / "redis-drain", appendonly=False) as redis_server:
        redis = connect(redis_server.url + "?socket_timeout=60")
        redis_pid = redis_server.process.pid if redis_server.process is not None else None
        async with cassandra_of(tmp, "podium_drain") as cassandra:
            node_pid = node_pids.get("podium_drain")
            meter = Meter({"node": node_pid, "redis": redis_pid})
            names = [f"drain{k}" for k in range(len(variants))] + (["stages"] if args.stages else [])
            for k, name in enumerate(names):
                await _fill(redis, Board(name), args.batches, seed=5 + k)
            print(meter.report(f"{len(names)} backlogs of {args.batches * 1000:,} rows filled", args.batches * 1000 * len(names)))
            try:
                if args.warmup_rows and cassandra is not None:
                    warm = _store(cassandra, tmp, "podium_warmup")
                    await warm.open()
                    meter.start()
                    for i in range(0, args.warmup_rows, 20_000):
                        await warm.append_scores([ScoreRow("warm@0", f"p{j % 100_000}", f"w{j}", j, 1_700_000_000_000 + j)
                                                  for j in range(i, i + 20_000)])
                    print(meter.report("node warm-up (unmeasured keyspace)", args.warmup_rows))
                    await warm.close()
                where = "Cassandra 5 node" if cassandra else "SQLite"
                if args.stages:
                    store = _store(cassandra, tmp, "podium_stages")
                    await store.open()
                    try:
                        print(f"stages of the writer on their own ({where}, {args.batches * 1000:,} rows):")
                        await _stages(redis, store, Board("stages"), meter, args)
                    finally:
                        await store.close()
                for k, pages in enumerate(variants):
                    await _drain_one(redis, _store(cassandra, tmp, f"podium_drain{k}"), Board(f"drain{k}"), pages,
                                     args.page_entries, meter,
                                     f"writer drain ({where}), {pages} page(s) of {args.page_entries} entries in flight")
            finally:
                await redis.aclose()


async def _drain_one(redis: AnyRedis, store: HistoryStore, board: Board, pages: int, page_entries: int,
                     meter: Meter, label: str) -> None:
    await store.open()
    try:
        async def boards() -> list[Board]:
            return [board]

        writer = HistoryWriter(store, RedisHistoryBacklog(redis, "drain", 60_000), boards,
                               batch_entries_max=page_entries, poll_ms=100,
                               retry_ms_max=1000, pages_in_flight_max=pages)
        meter.start()
        while await writer.drain_once() or writer.pages_in_flight:
            pass
        rows = writer.stats.written
        print(meter.report(label, rows))
        assert await writer.size() == 0, "backlog not drained"
    finally:
        await store.close()


async def paced(args: argparse.Namespace, tmp: Path, cassandra_of: Cassandra, node_pids: dict[str, int]) -> None:
    """1000-entry batches submitted on a fixed schedule (`--rate` scores/s for `--seconds`, up to
    `--senders` at once) with history going to the warm store. A batch refused because the backlog
    is full is a dropped batch; the writer keeps up when the backlog stays bounded."""
    sends = batches(int(args.rate * args.seconds / 1000), seed=99)
    with RedisServer(tmp / "redis-paced", appendonly=False) as redis:
        redis_pid = redis.process.pid if redis.process is not None else None
        async with cassandra_of(tmp, "podium_paced") as cassandra:
            history: dict[str, Any] = {"write_pages_in_flight_max": int(str(args.pages).split(",")[-1])}
            if cassandra is not None:
                history.update(cassandra.model_dump(include={
                    "cassandra_contact_points", "cassandra_port", "cassandra_protocol_version", "cassandra_consistency",
                    "cassandra_page_rows", "cassandra_scans_in_flight_max", "cassandra_batch_rows_max",
                    "cassandra_writes_in_flight_max"}), cassandra_keyspace="podium_paced")
            settings = Settings(redis_url=redis.url, data_dir=tmp / "paced", region="bench",
                                api={"rate_limit_per_s": 0, "cache_ttl_ms": 0},
                                history={"snapshot_interval_s": 0, "rebuild_on_start": False, **history})
            service = build_region(settings)
            await service.open()
            try:
                await service.boards.create(Board("ingest"), exist_ok=True)
                writer = service.history_writer
                assert writer is not None
                meter = Meter({"node": node_pids.get("podium_paced"), "redis": redis_pid})
                await _paced_run(service, writer, sends, args, meter, "Cassandra 5 node" if cassandra else "SQLite")
            finally:
                await service.close()


async def _paced_run(service: Any, writer: HistoryWriter, sends: Sequence[list[dict[str, Any]]],
                     args: argparse.Namespace, meter: Meter, where: str) -> None:
    refused, late, sent = 0, 0, 0
    series: list[tuple[float, int, int]] = []
    reasons: Counter[str] = Counter()
    gate = asyncio.Semaphore(args.senders)
    start = time.perf_counter()

    async def sample() -> None:
        while True:
            series.append((time.perf_counter() - start, await writer.size(), refused))
            await asyncio.sleep(1)

    async def send(raw: list[dict[str, Any]]) -> None:
        nonlocal refused, sent
        try:
            await service.ingest.submit(raw, scope="bench")
            sent += len(raw)
        except Unavailable as exc:
            refused += 1
            reasons[f"{exc.code}: {exc.message}"[:120]] += 1
        finally:
            gate.release()

    sampler = asyncio.create_task(sample())
    tasks = []
    meter.start()
    interval = 1000 / args.rate
    for i, raw in enumerate(sends):
        wait = start + i * interval - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            late += 1
        await gate.acquire()
        tasks.append(asyncio.create_task(send(raw)))
    await asyncio.gather(*tasks)
    sent_s = time.perf_counter() - start
    written_at_end = writer.stats.written
    drained = await writer.flush(600)
    total_s = time.perf_counter() - start
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)
    rows = writer.stats.written
    print(f"paced ingest at {args.rate:,.0f} scores/s for {args.seconds:g} s ({where}; "
          f"{writer.pages_in_flight_max} page(s) in flight): sent {sent / sent_s:,.0f} scores/s "
          f"({late} of {len(sends)} batches late), {refused} batches refused ({refused * 1000:,} rows dropped); "
          f"writer {written_at_end / sent_s:,.0f} rows/s while sending; drained {'' if drained else 'NOT '}"
          f"{total_s - sent_s:.1f} s after the last batch; backlog max {max((s for _t, s, _r in series), default=0)} entries")
    if reasons:
        print(f"  refused because: {dict(reasons)}")
    print("  backlog entries (1000 rows each) every second: "
          + " ".join(f"{t:.0f}s:{s}" for t, s, _r in series))
    print("  " + meter.report("CPU over the run (ingest included in client)", rows))

"""History store benchmarks (timings live here, never in unit tests).

    python benchmarks/history_bench.py [--rows 20000] [--players 100000]
        score-history write throughput on SQLite and on a real Cassandra 5 node (or
        CASSANDRA_CONTACT_POINTS), and the JSONL.gz snapshot size per million players (measured on
        --players, extrapolated linearly).
    python benchmarks/history_bench.py --ingest [--batches 150]
        what history costs the acknowledgement path: direct-mode ingest (RegionService.ingest.submit,
        1000-entry batches, one at a time, real redis-server) with history off, with the queued
        writer (SQLite; Cassandra with --cassandra), and with an inline SQLite write after each apply.
    python benchmarks/history_bench.py --paced [--cassandra] [--rate 15000] [--seconds 20] [--pages 3]
    python benchmarks/history_bench.py --drain [--cassandra] [--batches 200] [--pages 1,3] [--stages]
        the history writer end to end at a set ingest rate, and its own drain rate with each stage
        timed on its own: see history_writer_bench.py.
    python benchmarks/history_bench.py --rebuild [--rebuild-players 1000000] [--cassandra-players 20000]
        rebuild time of a board from the warm store (SQLite and Cassandra 5, each at --rebuild-players
        unless --cassandra-players says otherwise), checked equal to the expected standings; then a
        snapshot of the rebuilt board: Redis read, warm-store write and JSONL.gz export, with the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import history_writer_bench as writer_bench
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import HistoryStore, ScoreRow, Snapshot, history_key, rank_standings
from podium.region.rank_store import read_all
from podium.region.rank_store_redis import RedisRankStore
from podium.region.recovery import Rebuilder
from podium.region.snapshots import export_snapshot
from podium.region.wiring import build_region

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import HistorySettings, Settings
from podium.devtools.cassandra_server import CassandraServer
from podium.model import Board, RankedEntry
from podium.redis_client import connect
from podium.redis_server import RedisServer

BATCH_ROWS = 1000
WRITER_CALL_ROWS = 10_000    # what the history writer hands the store when behind (10 backlog entries)
T0 = 1_700_000_000_000


def _rows(n: int) -> list[ScoreRow]:
    rng = random.Random(1)
    return [ScoreRow("bench", f"player{rng.randrange(n // 4)}", f"ev{i}", rng.randrange(10**9),
                     1_700_000_000_000 + i) for i in range(n)]


_cpu_s = writer_bench.cpu_s


async def _write_rate(store: HistoryStore, rows: list[ScoreRow], call_rows: int,
                      node_pid: int | None = None) -> tuple[float, str]:
    """Rows/s, and rows per CPU-second of this client (and of the node when it is ours): on a
    shared machine the wall rate says how much CPU the others left, the CPU figures what it costs."""
    await store.open()
    try:
        cpu, node = _cpu_s(None), _cpu_s(node_pid) if node_pid else 0.0
        start = time.perf_counter()
        for i in range(0, len(rows), call_rows):
            await store.append_scores(rows[i : i + call_rows])
        took = time.perf_counter() - start
        cost = f"{len(rows) / (_cpu_s(None) - cpu):,.0f} rows per client CPU-s"
        if node_pid:
            cost += f", {len(rows) / max(_cpu_s(node_pid) - node, 0.01):,.0f} per node CPU-s"
        return len(rows) / took, cost
    finally:
        await store.close()


def _tuned(settings: HistorySettings, args: argparse.Namespace) -> HistorySettings:
    """The Cassandra store settings the command line overrides (--page-rows, --scans, --batch-rows,
    --in-flight), for comparing them on one node."""
    update = {name: value for name, value in (("cassandra_page_rows", args.page_rows),
                                              ("cassandra_scans_in_flight_max", args.scans),
                                              ("cassandra_batch_rows_max", args.batch_rows),
                                              ("cassandra_writes_in_flight_max", args.in_flight)) if value}
    return settings.model_copy(update=update)


NODE_PIDS: dict[str, int] = {}   # keyspace → pid of the node this bench started for it


@asynccontextmanager
async def _cassandra(tmp: Path, keyspace: str) -> AsyncIterator[HistorySettings]:
    external = os.environ.get("CASSANDRA_CONTACT_POINTS")
    if external:
        if os.environ.get("CASSANDRA_PID"):   # that node's process, for its CPU per row
            NODE_PIDS[keyspace] = int(os.environ["CASSANDRA_PID"])
        yield HistorySettings(cassandra_contact_points=external.split(","), cassandra_keyspace=keyspace,
                              cassandra_port=int(os.environ.get("CASSANDRA_PORT", "9042")),
                              cassandra_protocol_version=int(os.environ.get("CASSANDRA_PROTOCOL_VERSION", "5")))
        return
    with CassandraServer(tmp / f"cassandra-{keyspace}") as server:
        if server.process is not None:
            NODE_PIDS[keyspace] = server.process.pid
        yield HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=server.port,
                              cassandra_protocol_version=5, cassandra_consistency="LOCAL_QUORUM",
                              cassandra_keyspace=keyspace)


async def writes_and_snapshot_size(args: argparse.Namespace, tmp: Path) -> None:
    rows = _rows(args.rows)
    print(f"history writes, {args.rows:,} rows, load {os.getloadavg()[0]:.1f}")
    sqlite: dict[int, float] = {}
    for call_rows in (BATCH_ROWS, WRITER_CALL_ROWS):
        sqlite[call_rows], cost = await _write_rate(SqliteHistoryStore(tmp / f"h{call_rows}.sqlite3"), rows, call_rows)
        print(f"  sqlite     {call_rows:>6}-row calls: {sqlite[call_rows]:>8,.0f} rows/s ({cost})")
    async with _cassandra(tmp, "podium_bench") as node:
        settings = _tuned(node, args)
        where = os.environ.get("CASSANDRA_CONTACT_POINTS") or "Cassandra 5.0 node on the same cores"
        # A node serving for a while has compiled its hot paths; a fresh one interprets them for
        # its first minute. The same rows into another keyspace first, unmeasured.
        await _write_rate(CassandraHistoryStore(settings.model_copy(update={"cassandra_keyspace": "podium_warmup"})),
                          rows, WRITER_CALL_ROWS)
        for k, call_rows in enumerate((BATCH_ROWS, WRITER_CALL_ROWS)):
            store = CassandraHistoryStore(settings.model_copy(update={"cassandra_keyspace": f"podium_bench{k}"}))
            rate, cost = await _write_rate(store, rows, call_rows, NODE_PIDS.get("podium_bench"))
            print(f"  cassandra  {call_rows:>6}-row calls: {rate:>8,.0f} rows/s "
                  f"({rate / sqlite[call_rows]:.2f}× sqlite; {cost}; {where})")
    rng = random.Random(2)
    entries = tuple(RankedEntry(i, f"player{rng.randrange(10**9)}", 10**9 - i * 7, 1_700_000_000_000 + rng.randrange(10**9))
                    for i in range(1, args.players + 1))
    start = time.perf_counter()
    path = await export_snapshot(Snapshot("bench", 0, 1, entries), tmp)
    took = time.perf_counter() - start
    size = path.stat().st_size
    per_million = size * 1_000_000 / args.players
    print(f"snapshot export: {args.players:,} players → {size / 1e6:.2f} MB in {took:.2f} s; "
          f"extrapolated ×{1_000_000 / args.players:g}: {per_million / 1e6:.1f} MB per million players")


# --- ingest: what history costs the acknowledgement path -------------------------------------------

_batches = writer_bench.batches


async def _ingest_run(redis_url: str, data_dir: Path, variant: str, batches: list[list[dict[str, Any]]],
                      history: dict[str, Any]) -> dict[str, float]:
    settings = Settings(redis_url=redis_url, data_dir=data_dir, region="bench",
                        api={"rate_limit_per_s": 0, "cache_ttl_ms": 0},
                        history={"enabled": variant.startswith("queued"), "snapshot_interval_s": 0,
                                 "rebuild_on_start": False, **history})
    service = build_region(settings)
    await service.open()
    inline = SqliteHistoryStore(data_dir / "inline.sqlite3") if variant == "inline-sqlite" else None
    try:
        await service.boards.create(Board("ingest"), exist_ok=True)
        if inline is not None:
            await inline.open()
        latencies = []
        start = time.perf_counter()
        for raw in batches:
            t = time.perf_counter()
            out = await service.ingest.submit(raw, scope="bench")
            if inline is not None:
                key = history_key("ingest", 0)
                await inline.append_scores([
                    ScoreRow(key, e["player"], e["event_id"], e["score"], e["achieved_at"])
                    for e, r in zip(raw, out["results"], strict=True) if r["status"] in ("applied", "unchanged")])
            latencies.append((time.perf_counter() - t) * 1000)
        took = time.perf_counter() - start
        drain = 0.0
        dropped = 0
        if service.history_writer is not None:
            t = time.perf_counter()
            await service.history_writer.flush(600)
            drain = time.perf_counter() - t
            dropped = 0   # the durable backlog never drops: a full one refuses batches (503) instead
        latencies.sort()
        return {"entries_per_s": len(batches) * 1000 / took, "p50_ms": statistics.median(latencies),
                "p99_ms": latencies[int(len(latencies) * 0.99) - 1], "drain_s": drain, "dropped": dropped}
    finally:
        if inline is not None:
            await inline.close()
        await service.close()


async def ingest(args: argparse.Namespace, tmp: Path) -> None:
    variants: list[tuple[str, dict[str, Any]]] = [("off", {}), ("queued-sqlite", {}), ("inline-sqlite", {})]
    print(f"direct-mode ingest, {args.batches} batches of 1000 entries, one batch at a time (ack latency), "
          "100k players, best board; each variant twice, alternating, best run shown")
    with RedisServer(tmp / "redis-ingest", appendonly=False) as redis:
        async with _cassandra(tmp, "podium_ingest") if args.cassandra else _null() as cassandra:
            if cassandra is not None:
                variants.append(("queued-cassandra", {
                    "cassandra_contact_points": cassandra.cassandra_contact_points, "cassandra_port": cassandra.cassandra_port,
                    "cassandra_protocol_version": cassandra.cassandra_protocol_version,
                    "cassandra_consistency": cassandra.cassandra_consistency, "cassandra_keyspace": "podium_ingest"}))
            best: dict[str, dict[str, float]] = {}
            for rnd in range(2):
                for i, (variant, history) in enumerate(variants):
                    client = connect(redis.url)
                    await client.flushall()
                    await client.aclose()
                    got = await _ingest_run(redis.url, tmp / f"ingest-{variant}-{rnd}", variant,
                                            _batches(args.batches, seed=10 * rnd + i), history)
                    if variant not in best or got["entries_per_s"] > best[variant]["entries_per_s"]:
                        best[variant] = got
    base = best["off"]["entries_per_s"]
    for variant, got in best.items():
        print(f"  {variant:17} {got['entries_per_s']:>9,.0f} entries/s ({got['entries_per_s'] / base:.2f}× off)  "
              f"batch p50 {got['p50_ms']:.1f} ms p99 {got['p99_ms']:.1f} ms  "
              f"queue drained {got['drain_s']:.2f} s after the last ack, {got['dropped']:.0f} rows dropped")


@asynccontextmanager
async def _null() -> AsyncIterator[None]:
    yield None


def _writer_cassandra(args: argparse.Namespace) -> writer_bench.Cassandra:
    """The writer benches' warm store: a Cassandra node (store settings as overridden) with
    --cassandra, else none (SQLite)."""
    @asynccontextmanager
    async def node(tmp: Path, keyspace: str) -> AsyncIterator[HistorySettings | None]:
        if not args.cassandra:
            yield None
            return
        async with _cassandra(tmp, keyspace) as settings:
            yield _tuned(settings, args)

    return node


# --- rebuild: a 1M-player board from the warm store --------------------------------------------------

def _history_rows(players: int, board_key: str) -> Iterator[list[ScoreRow]]:
    """One score per player, three for every fifth player (a best board keeps the best), in chunks."""
    rng = random.Random(7)
    chunk: list[ScoreRow] = []
    for i in range(players):
        for k in range(3 if i % 5 == 0 else 1):
            chunk.append(ScoreRow(board_key, f"player{i:07d}", f"e{i}-{k}", rng.randrange(100_000), T0 + rng.randrange(10**6)))
        if len(chunk) >= 20_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _expected(players: int, board: Board) -> list[RankedEntry]:
    from podium.region.history.store import current_standing

    standings: dict[str, list[ScoreRow]] = {}
    for chunk in _history_rows(players, "x"):
        for r in chunk:
            standings.setdefault(r.player, []).append(r)
    return rank_standings([s for rows in standings.values() if (s := current_standing(board, rows)) is not None], board.order)


async def _rebuild_one(store: HistoryStore, redis_url: str, players: int, label: str, *, check: bool,
                       node_pid: int | None = None, redis_pid: int | None = None,
                       snapshot: bool = True) -> dict[str, float]:
    board = Board("big")
    # redis-py's 5 s read timeout failed rebuild and check reads at load 30-44 (other processes'
    # CPU, not Redis's work): the bench waits longer.
    redis = connect(redis_url + "?socket_timeout=60")
    try:
        await redis.flushall(asynchronous=True)   # a synchronous flush of a 1M board outran the read timeout
        registry = BoardRegistry(redis, SystemClock())
        await registry.create(board)
        start = time.perf_counter()
        rows = 0
        chunks = list(_history_rows(players, history_key("big", 0)))
        write_cpu = {"client": _cpu_s(None), "node": _cpu_s(node_pid) if node_pid else 0.0}
        write_load = os.getloadavg()[0]
        for chunk in chunks:
            await store.append_scores(chunk)
            rows += len(chunk)
        write_s = time.perf_counter() - start
        client_w = _cpu_s(None) - write_cpu["client"]
        print(f"{label}: {rows:,} history rows written in {write_s:.1f} s ({rows / write_s:,.0f} rows/s; "
              f"{rows / client_w:,.0f} rows per client CPU-s"
              + (f", {rows / max(_cpu_s(node_pid) - write_cpu['node'], 0.01):,.0f} per node CPU-s" if node_pid else "")
              + f"; load {write_load:.1f} → {os.getloadavg()[0]:.1f})")
        rank_store = RedisRankStore(redis)
        rebuilder = Rebuilder(redis, rank_store, store, registry, SystemClock(), HistorySettings(rebuild_settle_ms=0),
                              dedup_window_ms=600_000)
        load = os.getloadavg()[0]
        cpu = {"client": _cpu_s(None), "node": _cpu_s(node_pid) if node_pid else 0.0,
               "redis": _cpu_s(redis_pid) if redis_pid else 0.0}
        start = time.perf_counter()
        [report] = await rebuilder.run(["big"])
        rebuild_s = time.perf_counter() - start
        used = {"client": _cpu_s(None) - cpu["client"], "node": _cpu_s(node_pid) - cpu["node"] if node_pid else 0.0,
                "redis": _cpu_s(redis_pid) - cpu["redis"] if redis_pid else 0.0}
        memory = int((await redis.info("memory"))["used_memory"])
        print(f"{label}: {players:,} players ({rows:,} history rows written in {write_s:.1f} s, "
              f"{rows / write_s:,.0f} rows/s) → rebuilt in {rebuild_s:.1f} s "
              f"({players / rebuild_s:,.0f} players/s; CPU: client {used['client']:.1f} s, "
              f"{'node ' + format(used['node'], '.1f') + ' s, ' if node_pid else ''}Redis {used['redis']:.1f} s; "
              f"load {load:.1f} → {os.getloadavg()[0]:.1f}); Redis used_memory {memory / 1e6:.0f} MB")
        assert report.entries == players
        result = {"rebuild_s": rebuild_s}
        if check:
            start = time.perf_counter()
            entries = await read_all(rank_store, board, 10_000)   # 50k-entry reads timed out at load 30
            read_s = time.perf_counter() - start
            assert entries == _expected(players, board), "rebuilt board differs from the expected standings"
            print(f"  checked: all {players:,} ranks equal the expected standings (tie rule included)")
        if check and snapshot:
            start = time.perf_counter()
            snap = Snapshot("big", 0, T0, tuple(entries))
            await store.write_snapshot(snap)
            store_s = time.perf_counter() - start
            start = time.perf_counter()
            path = await export_snapshot(snap, Path(tempfile.gettempdir()) / f"podium-bench-{os.getpid()}")
            export_s = time.perf_counter() - start
            size = path.stat().st_size
            path.unlink()
            print(f"  snapshot of the rebuilt board: Redis read {read_s:.1f} s, warm-store write {store_s:.1f} s "
                  f"(ranks + rank history), JSONL.gz export {export_s:.1f} s → {size / 1e6:.1f} MB "
                  f"({size / players:.1f} bytes per player)")
        return result
    finally:
        await redis.aclose()


async def rebuild(args: argparse.Namespace, tmp: Path) -> None:
    with RedisServer(tmp / "redis-rebuild", appendonly=False) as redis:
        redis_pid = redis.process.pid if redis.process is not None else None
        if args.sqlite_players:
            sqlite = SqliteHistoryStore(tmp / "rebuild.sqlite3")
            await sqlite.open()
            try:
                await _rebuild_one(sqlite, redis.url, args.sqlite_players, "sqlite", check=True, redis_pid=redis_pid,
                                   snapshot=not args.no_snapshot)
            finally:
                await sqlite.close()
        if args.cassandra_players:
            async with _cassandra(tmp, "podium_rebuild") as settings:
                cassandra = CassandraHistoryStore(_tuned(settings, args))
                await cassandra.open()
                try:
                    await _rebuild_one(cassandra, redis.url, args.cassandra_players, "cassandra",
                                       check=args.cassandra_players <= 2_000_000,
                                       node_pid=NODE_PIDS.get("podium_rebuild"), redis_pid=redis_pid,
                                       snapshot=not args.no_snapshot)
                finally:
                    await cassandra.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--ingest", action="store_true")
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--cassandra", action="store_true", help="--ingest: add a queued Cassandra variant")
    parser.add_argument("--drain", action="store_true", help="the writer alone draining --batches from the backlog")
    parser.add_argument("--paced", action="store_true", help="the writer end to end at --rate scores/s")
    parser.add_argument("--rate", type=float, default=15_000)
    parser.add_argument("--pages", default="1,3", help="--drain: history.write_pages_in_flight_max of each variant "
                        "(--paced: the last one)")
    parser.add_argument("--stages", action="store_true", help="--drain: each stage of the writer on its own too")
    parser.add_argument("--page-entries", type=int, default=HistorySettings().write_batch_entries_max,
                        help="--drain: backlog entries per read (history.write_batch_entries_max)")
    parser.add_argument("--warmup-rows", type=int, default=0, help="--drain: rows written to the node first, unmeasured")
    parser.add_argument("--senders", type=int, default=4, help="--paced: batches submitted at once at most")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--rebuild-players", type=int, default=1_000_000)
    parser.add_argument("--cassandra-players", type=int, default=None, help="default: --rebuild-players; 0 skips")
    parser.add_argument("--page-rows", type=int, default=None, help="history.cassandra_page_rows")
    parser.add_argument("--scans", type=int, default=None, help="history.cassandra_scans_in_flight_max")
    parser.add_argument("--batch-rows", type=int, default=None, help="history.cassandra_batch_rows_max")
    parser.add_argument("--in-flight", type=int, default=None, help="history.cassandra_writes_in_flight_max")
    parser.add_argument("--no-snapshot", action="store_true", help="--rebuild: skip the snapshot of the rebuilt board")
    parser.add_argument("--sqlite-players", type=int, default=None, help="default: --rebuild-players; 0 skips")
    args = parser.parse_args()
    if args.cassandra_players is None:
        args.cassandra_players = args.rebuild_players
    if args.sqlite_players is None:
        args.sqlite_players = args.rebuild_players
    with tempfile.TemporaryDirectory() as tmp:
        if args.ingest:
            await ingest(args, Path(tmp))
        if args.paced:
            await writer_bench.paced(args, Path(tmp), _writer_cassandra(args), NODE_PIDS)
        if args.drain:
            await writer_bench.drain(args, Path(tmp), _writer_cassandra(args), NODE_PIDS)
        if args.rebuild:
            await rebuild(args, Path(tmp))
        if not (args.ingest or args.rebuild or args.paced or args.drain):
            await writes_and_snapshot_size(args, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())

"""History store benchmark: score-history write throughput on SQLite and on the Cassandra 1.2 test
server (or CASSANDRA_CONTACT_POINTS), and the JSONL.gz snapshot size per million players
(measured on 100k players, extrapolated linearly ×10).

    python benchmarks/history_bench.py [--rows 20000] [--players 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from podium.cassandra_server import CassandraServer
from podium.config import HistorySettings
from podium.model import RankedEntry
from podium.region.history_cassandra import CassandraHistoryStore
from podium.region.history_sqlite import SqliteHistoryStore
from podium.region.history_store import HistoryStore, ScoreRow, Snapshot
from podium.region.snapshots import export_snapshot

BATCH_ROWS = 1000


def _rows(n: int) -> list[ScoreRow]:
    rng = random.Random(1)
    return [ScoreRow("bench", f"player{rng.randrange(n // 4)}", f"ev{i}", rng.randrange(10**9),
                     1_700_000_000_000 + i) for i in range(n)]


async def _write_rate(store: HistoryStore, rows: list[ScoreRow]) -> float:
    await store.open()
    try:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH_ROWS):
            await store.append_scores(rows[i : i + BATCH_ROWS])
        return len(rows) / (time.perf_counter() - start)
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--players", type=int, default=100_000)
    args = parser.parse_args()
    rows = _rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        rate = await _write_rate(SqliteHistoryStore(Path(tmp) / "h.sqlite3"), rows)
        print(f"sqlite     history writes: {rate:,.0f} rows/s ({args.rows} rows, batches of {BATCH_ROWS})")
        external = os.environ.get("CASSANDRA_CONTACT_POINTS")
        if external:
            settings = HistorySettings(cassandra_contact_points=external.split(","), cassandra_keyspace="podium_bench")
            rate = await _write_rate(CassandraHistoryStore(settings), rows)
        else:
            with CassandraServer(Path(tmp) / "cassandra") as server:
                settings = HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=server.port,
                                           cassandra_protocol_version=1, cassandra_consistency="ONE",
                                           cassandra_keyspace="podium_bench")
                rate = await _write_rate(CassandraHistoryStore(settings), rows)
        where = external or "Cassandra 1.2 test server, 1 node, 2 cores shared with the client"
        print(f"cassandra  history writes: {rate:,.0f} rows/s ({where}; each row also upserts the player index)")
        rng = random.Random(2)
        entries = tuple(RankedEntry(i, f"player{rng.randrange(10**9)}", 10**9 - i * 7, 1_700_000_000_000 + rng.randrange(10**9))
                        for i in range(1, args.players + 1))
        start = time.perf_counter()
        path = await export_snapshot(Snapshot("bench", 0, 1, entries), Path(tmp))
        took = time.perf_counter() - start
        size = path.stat().st_size
        per_million = size * 1_000_000 / args.players
        print(f"snapshot export: {args.players:,} players → {size / 1e6:.2f} MB in {took:.2f} s; "
              f"extrapolated ×{1_000_000 / args.players:g}: {per_million / 1e6:.1f} MB per million players")


if __name__ == "__main__":
    asyncio.run(main())

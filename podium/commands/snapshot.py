"""`podium snapshot take|list|restore`: board snapshots by hand (the scheduler takes them periodically).

`restore FILE [--board B] [--live]` loads a JSONL.gz export back into the warm store (as board B, by
default the file's board), where `snapshot(…)`, `snapshots` and `rankHistory` read it; with `--live`
it also replaces B's live Redis standings with the file's, under the rebuild lease (a cold-tier
restore when the score history itself is gone). Configured like `podium serve`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from podium.config import Settings
from podium.errors import BadUserInput, Conflict

if TYPE_CHECKING:
    from podium.model import RankedEntry
    from podium.region.history.factory import HistoryContext


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("snapshot", help="take, list or restore board snapshots")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    take = sub.add_parser("take", help="snapshot a board now (warm store + JSONL.gz export)")
    take.add_argument("--board", required=True)
    take.set_defaults(func=run)
    listing = sub.add_parser("list", help="a board's stored snapshots, newest first")
    listing.add_argument("--board", required=True)
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=run)
    restore = sub.add_parser("restore", help="load a JSONL.gz export back")
    restore.add_argument("file", type=Path)
    restore.add_argument("--board", default=None, help="restore as this board (default: the file's board)")
    restore.add_argument("--live", action="store_true", help="also replace the board's live Redis standings")
    restore.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(Settings(), args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from podium.region.history.factory import history_context, snapshot_dir
    from podium.region.rank_store import read_all
    from podium.region.snapshots import restore, take_snapshot

    if args.action == "restore" and not args.file.is_file():
        raise BadUserInput(f"{args.file} is not a file")
    async with history_context(settings) as ctx:
        if args.action == "list":
            for info in await ctx.history.snapshots(args.board, max(1, args.limit)):
                print(f"{info.taken_at_ms}\tseason {info.season}\t{info.entries} entries")
            return 0
        if args.action == "take":
            board = await ctx.boards.require(args.board)

            async def read(board_id: str) -> tuple[int, Sequence[RankedEntry]]:
                return board.season, await read_all(ctx.rank_store, board)

            snap, path = await take_snapshot(ctx.history, read, board.id, ctx.clock.now_ms(), snapshot_dir(settings))
            print(f"snapshot of {board.id} season {snap.season}: {len(snap.entries)} entries → {path}")
            return 0
        snap = await restore(args.file)
        if args.board:
            snap = dataclasses.replace(snap, board=args.board)
        await ctx.history.write_snapshot(snap)
        print(f"restored {args.file.name} into the warm store as {snap.board} "
              f"(season {snap.season}, taken at {snap.taken_at_ms}): {len(snap.entries)} entries")
        if args.live:
            await _replace_live(ctx, settings, snap.board, [(e.player, e.score, e.achieved_at_ms) for e in snap.entries])
    return 0


async def _replace_live(ctx: HistoryContext, settings: Settings, board_id: str, rows: list[tuple[str, int, int]]) -> None:
    from podium.region.rebuild_leases_redis import RebuildLeases

    board = await ctx.boards.require(board_id)
    leases = RebuildLeases(ctx.redis, ctx.clock, settings.history.rebuild_lease_ms)
    token = await leases.acquire(board.id)
    if token is None:
        raise Conflict(f"board {board.id!r} is being rebuilt by another process")
    try:
        await asyncio.sleep(settings.history.rebuild_settle_ms / 1000)   # every process sees the lease
        count = await ctx.rank_store.replace(board, rows)
    finally:
        await leases.release(board.id, token)
    print(f"replaced the live standings of {board.id} season {board.season}: {count} entries")

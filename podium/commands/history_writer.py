"""`podium history-writer`: drains the region's history backlog into the warm store, in its own process.

Run it next to regions (and stream workers) configured with `history.writer_placement=separate`:
they then only fill the backlog (apply.lua, atomically with the ranking) and watch its length and
age. Configured like `podium serve`, by environment (REDIS_URL, PODIUM_REGION, PODIUM_DATA_DIR,
PODIUM_HISTORY__*). Several may run at once: each is a consumer of the backlog's group. A writer
killed at any point (kill -9 included) loses nothing: what it had read but not yet acknowledged is
taken over after `history.backlog_claim_idle_ms` by the next one (`podium up` restarts it).

It also writes the notification inboxes from the outbox (`notifications.inbox_writer=drain`, the
default: region/notifications/inbox_drain_redis.py), so the region's process does not; a drain
killed at any point re-reads its unacknowledged entries when it starts again."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.config import Settings


from podium.commands import add_metrics_args, serve_metrics, stop_on_signals


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("history-writer",
                              help="drain the history backlog (Redis) into the warm store, as its own process")
    add_metrics_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from podium.config import Settings

    settings = Settings()
    if not settings.redis_url:
        print("podium history-writer: set REDIS_URL", file=sys.stderr)
        return 2
    if not settings.history.enabled:
        print("podium history-writer: history is disabled (history.enabled=false)", file=sys.stderr)
        return 2
    asyncio.run(_main(settings, args.metrics_port, args.metrics_host))
    return 0


async def _main(settings: Settings, metrics_port: int, metrics_host: str) -> None:
    from opentelemetry.metrics import CallbackOptions, Observation

    from podium.boards import BoardRegistry
    from podium.clock import SystemClock
    from podium.redis_client import connect
    from podium.region.history.factory import build_history_store, history_writer
    from podium.tasks import Supervisor
    from podium.telemetry import Telemetry

    stop = stop_on_signals()
    telemetry = Telemetry("podium-history-writer", settings.region)
    supervisor = Supervisor(settings.supervisor)
    telemetry.watch_loops(supervisor.report)
    store = build_history_store(settings)
    assert store is not None   # run() checked history.enabled
    redis = connect(settings.redis_url or "", cluster=settings.redis_cluster,
                    connections_max=settings.redis_pool_connections_max)
    try:
        await store.open()
        try:
            writer = history_writer(settings, store, redis, BoardRegistry(redis, SystemClock()))

            def written(options: CallbackOptions) -> list[Observation]:
                return [Observation(writer.stats.written)]

            telemetry.provider.get_meter("podium").create_observable_counter(
                "podium_history_rows_written", callbacks=[written],
                description="Score rows this writer process has written to the warm store")
            serve_metrics(metrics_port, metrics_host, telemetry)
            writer.start(supervisor)
            drain = None
            if settings.notifications.enabled and settings.notifications.inbox_writer == "drain":
                from podium.region.notifications.wiring import run_inbox_drain

                # the region leaves its inbox writes to this process (notifications.inbox_writer=drain)
                drain = asyncio.create_task(run_inbox_drain(settings, redis, stop), name="notification inbox drain")
            await stop.wait()
            if drain is not None:
                await drain
            # drains what it can (bounded); the rest stays in the backlog for the next writer
            await writer.close(settings.history.close_drain_ms_max / 1000)
            await supervisor.close()
        finally:
            await store.close()
    finally:
        await redis.aclose()
        telemetry.shutdown()

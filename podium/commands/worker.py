"""`podium worker`: the region's stream worker (Faust) applying the event log to Redis.

Configured like `podium serve`, by environment: PODIUM_KAFKA__BOOTSTRAP, REDIS_URL, PODIUM_REGION…"""

from __future__ import annotations

import argparse
import asyncio
import sys

from podium.commands import add_metrics_args, serve_metrics


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("worker", help="run the stream worker: apply the event log (Kafka) to Redis")
    p.add_argument("--loglevel", default="warn", choices=["debug", "info", "warn", "error", "critical"])
    add_metrics_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import faust

    from podium.config import Settings
    from podium.region.stream.app import create_stream_app
    from podium.stream_topics import StreamTopics, ensure_topics
    from podium.telemetry import Telemetry

    settings = Settings()
    if not settings.kafka.bootstrap or not settings.redis_url:
        print("podium worker: set PODIUM_KAFKA__BOOTSTRAP and REDIS_URL", file=sys.stderr)
        return 2
    k = settings.kafka
    from tenacity import retry as retrying
    from tenacity import retry_if_exception_type, stop_after_delay, wait_exponential

    from podium.errors import Unavailable

    # A broker restarting (or started after the worker) is waited for, not a crash loop.
    ensure = retrying(
        retry=retry_if_exception_type(Unavailable), stop=stop_after_delay(k.startup_wait_s),
        wait=wait_exponential(multiplier=0.2, max=5), reraise=True,
    )(ensure_topics)
    try:
        asyncio.run(ensure(k.bootstrap or "", StreamTopics.of(settings), k.scores_partitions, k.replication_factor))
    except Unavailable as exc:
        print(f"podium worker: {exc}", file=sys.stderr)
        return 2
    telemetry = Telemetry("podium-worker", settings.region)
    serve_metrics(args.metrics_port, args.metrics_host, telemetry)
    app = create_stream_app(settings, telemetry)
    faust.Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0

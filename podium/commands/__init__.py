"""Sub-commands of the `podium` CLI, one module each (see `podium.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.telemetry import Telemetry


def add_metrics_args(parser: argparse.ArgumentParser) -> None:
    """The Prometheus port a background process (worker, history writer) serves its metrics on."""
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics port binds (0.0.0.0 in a pod, for the PodMonitor)")


def serve_metrics(port: int, host: str, telemetry: Telemetry) -> None:
    """Serves the process's Prometheus metrics on `port` (0: off), from a background thread."""
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, host, registry=telemetry.registry)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, a pod's termination): the long-running commands
    wait on it to stop cleanly. Call from inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):   # no signal handlers on this platform's loop
            loop.add_signal_handler(sig, stop.set)
    return stop

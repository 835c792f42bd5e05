"""Sub-commands of the `podium` CLI, one module each (see `podium.cli`)."""

import argparse
import asyncio
import contextlib
import signal


def add_metrics_args(parser: argparse.ArgumentParser) -> None:
    """The Prometheus port a background process (worker, history writer) serves its metrics on."""
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics port binds (0.0.0.0 in a pod, for the PodMonitor)")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, a pod's termination): the long-running commands
    wait on it to stop cleanly. Call from inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):   # no signal handlers on this platform's loop
            loop.add_signal_handler(sig, stop.set)
    return stop

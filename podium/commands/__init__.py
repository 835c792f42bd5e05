"""Sub-commands of the `podium` CLI, one module each (see `podium.cli`)."""

import argparse


def add_metrics_args(parser: argparse.ArgumentParser) -> None:
    """The Prometheus port a background process (worker, history writer) serves its metrics on."""
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics port binds (0.0.0.0 in a pod, for the PodMonitor)")

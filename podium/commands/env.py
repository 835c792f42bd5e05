"""`podium env`: the URLs and keys of what `podium up` started, as shell exports.

    eval "$(podium env)"        # then: curl "$PODIUM_URL/healthz", $ADMIN_KEY, $GAME_SECRET, ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podium.config import Settings
from podium.devtools.local_run import ENV_FILE, exports, read_env
from podium.redis_server import pids_alive


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("env", help="print the URLs and keys of the running `podium up` as shell exports")
    p.add_argument("--data-dir", type=Path, default=None, help="the data dir `podium up` was given")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Settings().data_dir
    try:
        doc = read_env(data_dir)
    except (OSError, ValueError):
        print(f"podium: nothing started by `podium up` in {data_dir} (no {ENV_FILE}); run `podium up` first",
              file=sys.stderr)
        return 1
    pid = int(doc.get("pid", 0))
    if pid <= 0 or not pids_alive([pid]):
        print(f"podium: the `podium up` that wrote {data_dir / ENV_FILE} (pid {doc.get('pid')}) is not running",
              file=sys.stderr)
        return 1
    print(exports(doc["env"]))
    return 0

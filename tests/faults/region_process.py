"""A real `podium serve --role region` child process for the kill -9 tests: its own data dir and
log, the test keys, one board, rate limits lifted, and any further settings as environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from podium.processes import wait_ready
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET

SPAWN_TIMEOUT_S = 90   # a cold `podium serve` imports for seconds on a loaded 2-core machine


def spawn_region(port: int, redis_url: str, data_dir: Path, board: str, settings: Mapping[str, str],
                 operator: str = "increment") -> subprocess.Popen[bytes]:
    """Starts the region and waits until `/readyz` answers; its log is `data_dir/podium.log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
    env.update({
        "REDIS_URL": redis_url, "PODIUM_PORT": str(port), "PODIUM_DATA_DIR": str(data_dir),
        "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}), "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "PODIUM_BOARDS": json.dumps([{"id": board, "operator": operator}]),
        "PODIUM_API__RATE_LIMIT_PER_S": "100000", "PODIUM_API__RATE_LIMIT_BURST": "100000",
        **settings,
    })
    log = (data_dir / "podium.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "podium", "serve", "--role", "region"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    log.close()
    if wait_ready(f"http://127.0.0.1:{port}", SPAWN_TIMEOUT_S, alive=lambda: proc.poll() is None):
        return proc
    proc.kill()
    proc.wait()
    raise AssertionError("region not ready: " + (data_dir / "podium.log").read_text()[-3000:])

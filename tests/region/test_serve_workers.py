"""`podium serve --workers N`: N Hypercorn worker processes accept on one port and serve."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY
from tests.region.helpers import create_board


def spawned_workers(pid: int) -> set[int]:
    """Live child processes of `pid` started by multiprocessing's spawn (not its resource tracker), from /proc."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            cmdline = (stat.parent / "cmdline").read_bytes()
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                out.add(int(stat.parent.name))
    return out


def test_two_workers_share_one_port(redis_server: RedisServer) -> None:
    env = {"PODIUM_REDIS_URL": f"{redis_server.url}/9", "PODIUM_ADMIN_KEYS": orjson.dumps([ADMIN_KEY]).decode(),
           "PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000"}
    with ServerProcess(env, workers=2) as server:
        workers = spawned_workers(server.process.pid)
        assert len(workers) == 2, workers
        create_board(server.url)
        for _ in range(20):   # new connections each: the kernel spreads them over the workers
            r = httpx.post(f"{server.url}/graphql", json={"query": "{ boards { id } }"},
                           headers={"Connection": "close"}, timeout=30)
            assert r.status_code == 200 and isinstance(r.json()["data"]["boards"], list), r.text

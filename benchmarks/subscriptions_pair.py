"""Same-time A/B of a websocket connect storm: one `podium serve` per variant (its own settings),
the Go storms against them fired together, one pair per round; prints each variant's server CPU
and collector CPU per connect (ms) and the ratio of the second to the first.

Why: on the shared 2-core machine the per-connect CPU of the same code swings by a fifth or more
between sequential runs (load 5-30); two servers storming at the same moment see the same load.

    python benchmarks/subscriptions_pair.py 10000 3 \
        "main=PODIUM_API__WS_LEAN_ACCEPT:false,PODIUM_API__GRAPHQL_LIVE_ARGUMENTS_MAX:0" "branch="
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from subscriptions import ADMIN, BOARD, KEY_ID, PODIUM_Q, SECRET, _cpu, _gc_cpu_s, _post  # beside this file

from podium.devtools.bench.subscriptions_wsload import WsLoad
from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer

CONCURRENCY = 400  # handshakes in flight per storm (the bench's Go default)


def _env(redis_url: str, n: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "PODIUM_GAME_SERVER_KEYS": json.dumps({KEY_ID: SECRET}),
        "PODIUM_ADMIN_KEYS": json.dumps([ADMIN]),
        "PODIUM_BOARDS": json.dumps([{"id": BOARD}]),
        "PODIUM_API__SUBSCRIPTIONS_PER_PROCESS_MAX": str(n + 100),
        "PODIUM_API__RATE_LIMIT_PER_S": "1000000",
        "PODIUM_API__RATE_LIMIT_BURST": "1000000",
        **extra,
    }


def _storm(server: ServerProcess, n: int, out: dict[str, Any], name: str) -> None:
    cpu0, gc0 = _cpu(server.process.pid), _gc_cpu_s(server.url)
    with WsLoad(
        server.ws_url,
        PODIUM_Q,
        {"b": BOARD},
        n,
        concurrency=CONCURRENCY,
        messages=0,
        listen_timeout_s=5,
        raw=True,
    ) as load:
        connected = load.connected()
        out[name] = {
            "cpu_ms": round((_cpu(server.process.pid) - cpu0) * 1000 / n, 3),
            "gc_ms": round((_gc_cpu_s(server.url) - gc0) * 1000 / n, 3),
            "failed": connected.get("failed"),
        }
        done = load.done()
        out[name]["connect_s"] = done.get("connect_s")


def main() -> None:
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    variants = []
    for spec in sys.argv[3:5]:
        name, _, pairs = spec.partition("=")
        variants.append((name, dict(p.split(":", 1) for p in pairs.split(",") if p)))
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        try:
            for r in range(rounds):
                servers = [
                    ServerProcess(_env(redis.url, n, extra), cwd=tmp).__enter__() for _name, extra in variants
                ]
                try:
                    _post(servers[0].url, "seed", 1)
                    time.sleep(1.0)
                    out: dict[str, Any] = {}
                    threads = [
                        threading.Thread(target=_storm, args=(s, n, out, name))
                        for (name, _extra), s in zip(variants, servers, strict=True)
                    ]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    (a, _), (b, _) = variants
                    print(
                        json.dumps(
                            {
                                "round": r,
                                "load": round(os.getloadavg()[0], 1),
                                **out,
                                "ratio": round(out[b]["cpu_ms"] / out[a]["cpu_ms"], 3),
                            }
                        ),
                        flush=True,
                    )
                finally:
                    for s in servers:
                        s.__exit__(None, None, None)
        finally:
            redis.stop()


if __name__ == "__main__":
    main()

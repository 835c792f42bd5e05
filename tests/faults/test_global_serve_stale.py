"""Serve-stale on the global tier: its Redis hangs (SIGSTOP) behind a real global server; EVENTUAL
leaderboard pages inside the last top it answered keep answering from memory, `stale: true` with
that read's asOf (at once once the breaker is open); a page it does not hold and STRONG reads fail
fast with 503 + Retry-After (UNAVAILABLE); when Redis answers again reads are live."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from podium.global_.server import create_global_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.model import Board, Operator
from podium.redis_server import RedisServer
from podium.signing import signed_headers

SECRET = "global-stale-secret"
CALL_TIMEOUT_MS = 400
BREAKERS = {"call_timeout_ms": CALL_TIMEOUT_MS, "open_ms": 1000, "calls_min": 3, "window_calls_max": 20,
            "failure_ratio": 0.5}
SLACK_MS = 3000
PAGE = ("query($b:String!,$f:Int!,$o:Int!,$c:Consistency!){ leaderboard(board:$b, first:$f, offset:$o, "
        "consistency:$c){ stale asOf edges { node { player score } } } }")


def _replicate(url: str, board: Board, scores: dict[str, int]) -> None:
    now = int(time.time() * 1000)
    changes = [[board.id, board.season, p, s, now - 1000 + i, (now << 12) + i] for i, (p, s) in enumerate(scores.items())]
    body = orjson.dumps({"region": "eu", "board": board.to_dict(), "changes": changes, "feeds": {}})
    r = httpx.post(f"{url}/v1/replicate", content=body, timeout=10,
                   headers=signed_headers("eu", SECRET, "POST", "/v1/replicate", now, body))
    assert r.status_code == 200, r.text


def _page(url: str, board: str, first: int, offset: int = 0, consistency: str = "EVENTUAL") -> tuple[httpx.Response, float]:
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/graphql", timeout=30, json={"query": PAGE, "variables": {
        "b": board, "f": first, "o": offset, "c": consistency}})
    return r, (time.perf_counter() - t0) * 1000


def _players(r: httpx.Response) -> tuple[list[str], dict[str, Any]]:
    doc = r.json()
    assert r.status_code == 200 and "errors" not in doc, doc
    top = doc["data"]["leaderboard"]
    return [e["node"]["player"] for e in top["edges"]], top


def _unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503 and float(r.headers["retry-after"]) > 0, r.text
    assert {e["extensions"]["code"] for e in r.json()["errors"]} == {"UNAVAILABLE"}, r.text


def test_global_pages_stay_stale_while_its_redis_hangs(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "global-redis", appendonly=False).start()
    settings = Settings(redis_url=redis.url, port=0, replication={"secret": SECRET}, breakers=BREAKERS)  # type: ignore[arg-type]
    board, other = Board("world", operator=Operator.BEST), Board("elsewhere", operator=Operator.BEST)
    scores = {f"p{i}": 10 * (i + 1) for i in range(5)}
    try:
        with LiveServer(create_global_app, settings) as server:
            url = server.url
            _replicate(url, board, scores)
            _replicate(url, other, {"x": 1})
            ranked = sorted(scores, key=lambda p: -scores[p])
            live, top = _players(_page(url, board.id, 5)[0])
            assert live == ranked and top["stale"] is False
            assert redis.process is not None
            os.kill(redis.process.pid, signal.SIGSTOP)
            try:
                timings = []
                for _ in range(20):
                    players, held = _players(_page(url, board.id, 5)[0])
                    assert players == ranked and held["stale"] is True and held["asOf"] == top["asOf"]
                    r, ms = _page(url, board.id, 2, offset=2)
                    page, labelled = _players(r)
                    assert page == ranked[2:4] and labelled["stale"] is True
                    timings.append(ms)
                    r, ms = _page(url, other.id, 1)          # never read: nothing held, fail fast
                    _unavailable(r)
                    timings.append(ms)
                    r, ms = _page(url, board.id, 5, consistency="STRONG")   # must be live: fail fast
                    _unavailable(r)
                    timings.append(ms)
                print(f"\nglobal Redis SIGSTOP: {len(timings)} page/unheld/STRONG reads, median "
                      f"{sorted(timings)[len(timings) // 2]:.1f} ms, max {max(timings):.0f} ms (load {os.getloadavg()[0]:.1f})")
                assert max(timings) < CALL_TIMEOUT_MS + SLACK_MS, timings
                state = httpx.get(f"{url}/readyz", timeout=30).json()["breakers"]["redis"]["state"]
                assert state in ("open", "half_open"), state
            finally:
                os.kill(redis.process.pid, signal.SIGCONT)
            # live again: a new asOf (`stale` itself may now say the silent region "eu" is behind)
            deadline = time.monotonic() + 30
            while True:
                r = _page(url, board.id, 5)[0]
                if r.status_code == 200 and "errors" not in r.json():
                    players, now = _players(r)
                    if datetime.fromisoformat(now["asOf"]) > datetime.fromisoformat(top["asOf"]):
                        break
                assert time.monotonic() < deadline, "reads never became live again"
                time.sleep(0.1)
            assert players == ranked
            assert httpx.get(f"{url}/readyz", timeout=30).json()["breakers"]["redis"]["state"] == "closed"
    finally:
        redis.stop()

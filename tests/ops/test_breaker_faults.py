"""Circuit breaker on a real region against a real redis-server that hangs (SIGSTOP) and then dies
(SIGKILL): while the breaker is open, top-N reads answer at once from the process's last good top,
labelled `stale: true` with its asOf, writes fail fast with 503 + Retry-After, no request hangs;
/readyz and /metrics show the breaker; when Redis is back the breaker closes and reads are live."""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.conftest import GAME_KEY_ID, GAME_SECRET, region_settings
from tests.region.helpers import create_board, entry, post_scores

CALL_TIMEOUT_MS = 400
BREAKERS = {"call_timeout_ms": CALL_TIMEOUT_MS, "open_ms": 1000, "calls_min": 3, "window_calls_max": 20,
            "failure_ratio": 0.5}
TOP = "query($b:String!){ leaderboard(board:$b, first:5){ stale asOf edges { node { player score } } } }"
BASELINE_CUT_S = 5.0       # the baseline's client timeout: a request still waiting then is hanging
NO_BREAKER = {"call_timeout_ms": 0, "calls_min": 100_000, "window_calls_max": 100_000, "failure_ratio": 1.0}
# Slack over the call timeout for one request's own overhead on a 2-core machine shared with other
# test runs (load 20 seen): a hanging request would wait for the client's 30 s timeout.
SLACK_MS = 3000


def _read(url: str, board: str) -> tuple[httpx.Response, float]:
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/graphql", json={"query": TOP, "variables": {"b": board}}, timeout=30)
    return r, (time.perf_counter() - t0) * 1000


PAGE = ("query($b:String!,$a:String){ leaderboard(board:$b, first:2, after:$a){ stale asOf "
        "edges { cursor node { player score } } } }")


def _page(url: str, board: str, after: str) -> tuple[httpx.Response, float]:
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/graphql", json={"query": PAGE, "variables": {"b": board, "a": after}}, timeout=30)
    return r, (time.perf_counter() - t0) * 1000


def _cursor_of(url: str, board: str, rank: int) -> str:
    doc = httpx.post(f"{url}/graphql", json={"query": PAGE.replace("first:2", "first:5"),
                                             "variables": {"b": board, "a": None}}, timeout=30).json()
    return str(doc["data"]["leaderboard"]["edges"][rank - 1]["cursor"])


def _write(url: str, board: str, player: str, score: int) -> tuple[httpx.Response, float]:
    t0 = time.perf_counter()
    r = post_scores(url, {"entries": [entry(board, player, score)]})
    return r, (time.perf_counter() - t0) * 1000


def _breaker(url: str) -> str:
    doc = httpx.get(f"{url}/readyz", timeout=30).json()
    return str(doc.get("breakers", {}).get("redis", {}).get("state", "none"))


def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _while_open(url: str, board: str, players: list[str], cursors: list[str], stopped_at_ms: int,
                rounds: int) -> dict[str, Any]:
    """Reads (the top, pages) and writes while the breaker is open (it half-opens every open_ms and
    a probe fails). `cursors`: of the held top's second row, and of a row the top does not hold."""
    reads, writes = [], []
    for i in range(rounds):
        r, ms = _read(url, board)
        doc = r.json()
        assert r.status_code == 200 and "errors" not in doc, doc
        top = doc["data"]["leaderboard"]
        assert top["stale"] is True, top
        assert [n["node"]["player"] for n in top["edges"]] == players
        as_of_ms = datetime.fromisoformat(top["asOf"]).timestamp() * 1000
        assert as_of_ms <= stopped_at_ms + 1                   # the last good answer, not a new one
        reads.append(ms)
        # a page after a cursor the held top contains: the next rows of that top, labelled stale
        r, ms = _page(url, board, cursors[0])
        page = r.json()["data"]["leaderboard"]
        assert page["stale"] is True and [n["node"]["player"] for n in page["edges"]] == players[2:4], page
        assert page["asOf"] == top["asOf"]
        reads.append(ms)
        # a page the held top cannot continue (a cursor it does not hold): 503 at once, never guessed
        r, ms = _page(url, board, cursors[1])
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE", r.text
        reads.append(ms)
        w, ms = _write(url, board, f"late{i}", 1000 + i)
        assert w.status_code == 503, w.text
        assert float(w.headers["retry-after"]) > 0 and w.json()["error"]["code"] == "UNAVAILABLE"
        writes.append(ms)
    every = reads + writes
    assert max(writes) < CALL_TIMEOUT_MS + SLACK_MS, writes    # fail fast: never past the call timeout
    assert max(every) < CALL_TIMEOUT_MS + SLACK_MS, every      # no hanging request at all
    return {"reads_p99_ms": round(_p99(reads), 1), "writes_p99_ms": round(_p99(writes), 1),
            "max_ms": round(max(every), 1), "requests": len(every)}


def _without_breaker(url: str, board: str, requests: int) -> dict[str, Any]:
    """The baseline, in the same run: a region whose breaker never opens and never times a call out
    (what Podium did before), against the same hung Redis. Its requests are cut by the client's
    timeout, in parallel so the test waits one timeout, not one per request."""
    def timed(fn: Callable[[], httpx.Response]) -> float:
        t0 = time.perf_counter()
        try:
            fn()
        except httpx.TimeoutException:
            pass
        return (time.perf_counter() - t0) * 1000

    def write(i: int) -> float:
        raw = orjson.dumps({"entries": [entry(board, f"bare{i}", 1)]})
        headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", int(time.time() * 1000), raw)
        return timed(lambda: httpx.post(f"{url}/v1/scores", content=raw, headers=headers, timeout=BASELINE_CUT_S))

    def read(i: int) -> float:
        return timed(lambda: httpx.post(f"{url}/graphql", json={"query": TOP, "variables": {"b": board}},
                                        timeout=BASELINE_CUT_S))

    with ThreadPoolExecutor(max_workers=2 * requests) as pool:
        writes = list(pool.map(write, range(requests)))
        reads = list(pool.map(read, range(requests)))
    return {"reads_p99_ms": round(_p99(reads), 1), "writes_p99_ms": round(_p99(writes), 1),
            "writes_cut_at_client_timeout": sum(1 for ms in writes if ms >= BASELINE_CUT_S * 1000)}


def _recovered(url: str, board: str) -> None:
    _until(lambda: _breaker(url) == "closed")
    assert _write(url, board, "p9", 99)[0].status_code == 200
    _until(lambda: _read(url, board)[0].json()["data"]["leaderboard"]["stale"] is False)
    top = _read(url, board)[0].json()["data"]["leaderboard"]
    assert top["edges"][0]["node"]["player"] == "p9"


def test_reads_stay_stale_and_writes_fail_fast_while_redis_hangs_then_dies(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    settings = region_settings(redis.url, breakers=BREAKERS)
    try:
        with LiveServer(create_app, settings) as server, \
                LiveServer(create_app, region_settings(redis.url, breakers=NO_BREAKER)) as bare:
            url = server.url
            board = create_board(url)
            for i in range(5):
                assert _write(url, board, f"p{i}", 10 * (i + 1))[0].status_code == 200
            first = _read(url, board)[0].json()["data"]["leaderboard"]
            assert first["stale"] is False and len(first["edges"]) == 5
            # the cursor of rank 2, and of a row past the held top (the 5-row top holds no "gone")
            outside = base64.urlsafe_b64encode(orjson.dumps([1, 1, "gone"])).decode()
            cursors = [_cursor_of(url, board, 2), outside]
            assert _breaker(url) == "closed"
            assert redis.process is not None
            pid = redis.process.pid

            # A hanging store: calls time out at the call timeout until the breaker opens.
            os.kill(pid, signal.SIGSTOP)
            stopped_at = int(time.time() * 1000)
            trip = [_write(url, board, "t", 1)[1] for _ in range(3)]
            _until(lambda: _breaker(url) == "open")
            assert max(trip) < CALL_TIMEOUT_MS + SLACK_MS, trip
            hung = _while_open(url, board, ["p4", "p3", "p2", "p1", "p0"], cursors, stopped_at, rounds=40)
            baseline = _without_breaker(bare.url, board, requests=4)
            assert baseline["writes_cut_at_client_timeout"] == 4      # the baseline does hang
            metrics = httpx.get(f"{url}/metrics").text
            assert re.search(r'^podium_circuit_state\{dependency="redis",[^}]*\} [12]\.0$', metrics, re.MULTILINE), metrics
            assert re.search(r'^podium_circuit_rejected_total\{dependency="redis",[^}]*\} [1-9]', metrics, re.MULTILINE)
            os.kill(pid, signal.SIGCONT)
            _recovered(url, board)

            # A dead store: connections refused; same behaviour, then a restart.
            players = [e["node"]["player"] for e in _read(url, board)[0].json()["data"]["leaderboard"]["edges"]]
            cursors = [_cursor_of(url, board, 2), outside]
            redis.process.kill()
            redis.process.wait()
            stopped_at = int(time.time() * 1000)
            for _ in range(3):
                _write(url, board, "t", 1)
            _until(lambda: _breaker(url) == "open")
            dead = _while_open(url, board, players, cursors, stopped_at, rounds=40)
            redis.stop()
            redis = RedisServer(tmp_path / "redis", port=redis.port, appendonly=True).start()
            _recovered(url, board)
            print(f"\nredis SIGSTOP, no breaker (baseline): {baseline}\nbreaker open, redis SIGSTOP: {hung}"
                  f"\nbreaker open, redis killed: {dead}")
    finally:
        redis.stop()

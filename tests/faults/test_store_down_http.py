"""A region whose Redis is killed (kill -9) or refuses writes (MISCONF, a full disk) answers
coded, retryable errors over HTTP: 503 with Retry-After for score batches and admin writes,
503 + Retry-After with the GraphQL body (`UNAVAILABLE`) for GraphQL reads whose every error is the
outage (on the region and the global tier), 503 from /readyz; never a 500."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
from podium.global_.server import create_global_app
from podium.region.api.app import create_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer, redis_cli_binary
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores, unique


def _assert_retryable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "UNAVAILABLE"


def _assert_graphql_outage(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert {e["extensions"]["code"] for e in r.json()["errors"]} == {"UNAVAILABLE"}, r.text


def test_killed_redis_gives_a_graphql_503_on_the_global_tier(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        with LiveServer(create_global_app, Settings(redis_url=redis.url, port=0)) as server:
            query = {"query": '{ leaderboard(board: "arena", first: 3) { edges { node { rank } } } }'}
            assert httpx.post(f"{server.url}/graphql", json=query).status_code == 200
            assert redis.process is not None
            redis.process.kill()
            redis.process.wait()
            # past the board registry's miss-refresh interval (100 ms), so the unknown board is
            # looked up in Redis again rather than answered from the cache the first query loaded
            time.sleep(0.3)
            _assert_graphql_outage(httpx.post(f"{server.url}/graphql", json=query))
    finally:
        redis.stop()


def test_killed_redis_gives_503_and_unavailable(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        with LiveServer(create_app, region_settings(redis.url)) as server:
            board = create_board(server.url)
            assert post_scores(server.url, {"entries": [entry(board, "ann", 5)]}).status_code == 200
            assert redis.process is not None
            redis.process.kill()
            redis.process.wait()
            # a fresh signature (the replay guard is the first Redis call) and an idempotent one
            _assert_retryable(post_scores(server.url, {"entries": [entry(board, "bob", 7)]}))
            _assert_retryable(post_scores(server.url, {"entries": [entry(board, "cy", 7)]}, idempotency_key=unique("k")))
            _assert_retryable(httpx.get(f"{server.url}/v1/admin/boards", headers={"Authorization": f"Bearer {ADMIN_KEY}"}))
            doc = httpx.post(f"{server.url}/graphql", json={"query": f'{{ count(board: "{board}") }}'})
            _assert_graphql_outage(doc)
            # an outage beside a caller's mistake: the caller must fix the request, so no 503
            mixed = httpx.post(f"{server.url}/graphql", json={"query": f'{{ count(board: "{board}") '
                                                                       f'page(board: "{board}", fromRank: 0, toRank: -1) {{ rank }} }}'})
            codes = {e["extensions"]["code"] for e in mixed.json()["errors"]}
            assert mixed.status_code == 200 and "BAD_USER_INPUT" in codes, mixed.text
            assert httpx.get(f"{server.url}/readyz").status_code == 503
    finally:
        redis.stop()


def test_full_disk_gives_503(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=False).start()
    cli = [redis_cli_binary(), "-p", str(redis.port)]
    try:
        with LiveServer(create_app, region_settings(redis.url)) as server:
            board = create_board(server.url)
            for args in (["config", "set", "save", "3600 1"], ["config", "set", "dir", "/proc"], ["bgsave"]):
                subprocess.run(cli + args, check=True, capture_output=True, timeout=5)
            r = post_scores(server.url, {"entries": [entry(board, "ann", 5)]})
            for _ in range(50):   # the background save fails within milliseconds
                if r.status_code == 503:
                    break
                r = post_scores(server.url, {"entries": [entry(board, "ann", 5)]})
            _assert_retryable(r)
            assert "MISCONF" in r.json()["error"]["message"]
            subprocess.run(cli + ["config", "set", "save", ""], check=True, capture_output=True, timeout=5)
    finally:
        redis.stop()

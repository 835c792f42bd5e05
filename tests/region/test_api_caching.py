"""HTTP caching over a real server: GET queries for reads (never mutations), Cache-Control from the
board, ETag and 304, and the singleflight read cache in front of Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from podium.region.api.app import create_app
from podium.region.api.response_cache import ResponseCacheMiddleware

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores


@pytest.fixture(scope="module")
def cached(redis_server: RedisServer) -> Iterator[LiveServer]:
    settings = region_settings(redis_server.url, api={"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000,
                                                      "cache_ttl_ms": 60_000, "response_cache_ttl_ms": 0,
                                                      "top_snapshot_entries": 0})  # the read cache alone
    with LiveServer(create_app, settings) as server:
        yield server


@pytest.fixture(scope="module")
def response_cached(redis_server: RedisServer) -> Iterator[LiveServer]:
    settings = region_settings(redis_server.url, api={"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000,
                                                      "cache_ttl_ms": 0, "response_cache_ttl_ms": 2000})
    with LiveServer(create_app, settings) as server:
        yield server


def get(server: LiveServer, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{server.url}/graphql", params={"query": query}, headers=headers or {})


def test_get_query_is_cacheable_with_etag_and_304(cached: LiveServer) -> None:
    board = create_board(cached.url, cache_max_age_s=7)
    post_scores(cached.url, {"entries": [entry(board, "ann", 5)]})
    q = f'{{ leaderboard(board:"{board}", first:5){{ edges {{ node {{ player score }} }} }} }}'
    first = get(cached, q)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=7"
    etag = first.headers["etag"]
    again = get(cached, q, {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert get(cached, q, {"If-None-Match": '"other"'}).status_code == 200


def test_read_cache_serves_one_read_per_tick(cached: LiveServer) -> None:
    board = create_board(cached.url)
    post_scores(cached.url, {"entries": [entry(board, "ann", 5)]})
    q = f'{{ leaderboard(board:"{board}", first:5){{ edges {{ node {{ player score }} }} }} }}'
    before = get(cached, q).json()
    post_scores(cached.url, {"entries": [entry(board, "bob", 9)]})
    assert get(cached, q).json() == before     # served from the cache (60 s TTL in this fixture)
    metrics = httpx.get(f"{cached.url}/metrics").text
    assert 'result="hit"' in metrics


def test_mutations_are_refused_over_get_and_private_reads_are_not_public(cached: LiveServer) -> None:
    r = get(cached, 'mutation { deleteBoard(board:"x") }', {"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code in (400, 405)
    board = create_board(cached.url, public_read=False)
    private = get(cached, f'{{ leaderboard(board:"{board}"){{ totalCount }} }}', {"Authorization": f"Bearer {ADMIN_KEY}"})
    assert private.headers["cache-control"] == "private, no-store"
    assert "etag" not in private.headers


def post_query(server: LiveServer, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers or {})


def test_public_responses_are_reused_for_the_ttl_and_nothing_else_is(response_cached: LiveServer) -> None:
    board = create_board(response_cached.url, cache_max_age_s=5)
    post_scores(response_cached.url, {"entries": [entry(board, "ann", 5)]})
    q = f'{{ leaderboard(board:"{board}", first:5){{ edges {{ node {{ player score }} }} }} }}'
    first = post_query(response_cached, q)
    cache = _response_cache(response_cached)
    hits = cache.hits
    post_scores(response_cached.url, {"entries": [entry(board, "bob", 9)]})
    again = post_query(response_cached, q)
    assert again.content == first.content and cache.hits == hits + 1        # within the TTL: reused
    assert get(response_cached, q).json() != first.json()                    # GET has its own key
    time.sleep(2.1)                                                          # the 2 s TTL passes
    fresh = post_query(response_cached, q).json()
    assert [e["node"]["player"] for e in fresh["data"]["leaderboard"]["edges"]] == ["bob", "ann"]
    # never reused: another credential, private boards, errors, mutations
    assert post_query(response_cached, q, {"Authorization": "Bearer x"}).json() == fresh
    private = create_board(response_cached.url, public_read=False)
    pq = f'{{ leaderboard(board:"{private}"){{ totalCount }} }}'
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    hits = cache.hits
    for _ in range(2):
        assert post_query(response_cached, pq, admin).status_code == 200
        post_query(response_cached, '{ leaderboard(board:"no-such-board"){ totalCount } }')
        post_query(response_cached, f'mutation {{ resetBoard(board:"{private}") {{ id }} }}', admin)
    assert cache.hits == hits


def _response_cache(server: LiveServer) -> ResponseCacheMiddleware:
    app = server.app.middleware_stack
    while not isinstance(app, ResponseCacheMiddleware):
        app = app.app
    return app


def test_no_cache_requests_skip_both_caches(cached: LiveServer, response_cached: LiveServer) -> None:
    """The global tier's STRONG and SESSION reads send `Cache-Control: no-cache`: they see a write
    the moment it is acknowledged, while other readers keep their cached copy."""
    for server in (cached, response_cached):
        board = create_board(server.url, cache_max_age_s=5)
        post_scores(server.url, {"entries": [entry(board, "ann", 5)]})
        q = f'{{ leaderboard(board:"{board}", first:5){{ edges {{ node {{ player score }} }} }} }}'
        before = post_query(server, q).json()
        post_scores(server.url, {"entries": [entry(board, "bob", 9)]})
        assert post_query(server, q).json() == before                 # cached for everyone else
        fresh = post_query(server, q, {"Cache-Control": "no-cache"}).json()
        assert fresh["data"]["leaderboard"]["edges"][0]["node"] == {"player": "bob", "score": 9}

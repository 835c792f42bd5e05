"""The same limits and auth rules on a region and on the global tier (one module, both tiers):
hostile bodies, byte / token / depth / alias / cost limits, subscriptions over HTTP, websocket
init timeout and message size, rate limits over HTTP and websocket handshakes, `rankChanged`
auth. Every refusal is a 4xx (or a coded GraphQL error) carrying `extensions.code`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from podium.global_.schema import build_global_schema
from podium.region.api.schema import build_schema
from websockets.exceptions import ConnectionClosed, InvalidStatus

from podium.config import ApiLimits
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.redis_server import RedisServer
from tests.robustness.conftest import CACHED_URLS, GUARD_API, TIERS, serve_tier

NODE = "rank player score achievedAt precision errorBound asOf"
LARGEST_PAGE = ("query($n:Int!){ leaderboard(board:\"none\", first:$n){ edges { cursor node { %s } } "
                "pageInfo { hasNextPage endCursor } totalCount asOf stale status } }" % NODE)


def post_raw(server: LiveServer, body: bytes, content_type: str = "application/json") -> httpx.Response:
    response = httpx.post(f"{server.url}/graphql", content=body, headers={"content-type": content_type})
    if server.url in CACHED_URLS:   # again: the answer from the prepared operation is the same
        again = httpx.post(f"{server.url}/graphql", content=body, headers={"content-type": content_type})
        assert (again.status_code, again.content) == (response.status_code, response.content)
    return response


def post(server: LiveServer, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    return post_raw(server, orjson.dumps({"query": query, "variables": variables or {}}))


def error_code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


HOSTILE_BODIES: list[tuple[bytes, str]] = [
    (b"null", "application/json"), (b"5", "application/json"), (b'"x"', "application/json"),
    (b"[]", "application/json"), (b"[5]", "application/json"), (b"\xff\xfe{", "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"), (b'{"query": 5}', "application/json"),
    (b'{"query": "{ boards { id } }", "operationName": 5}', "application/json"),
    (b'{"query": "{ boards { id } }", "variables": "x"}', "application/json"),
    (b'{"query": "{ boards { id } }", "variables": {"a": 1e400}}', "application/json"),
    (b'{"query": "{ boards { id } }", "variables": {"a": "\\ud800"}}', "application/json"),
    (b'{"query": "{ boards { id } }"}', "text/plain"), (b"", "application/json"),
    (b'{"query": ""}', "application/json"), (b'{"query": "fragment F on Query { boards { id } }"}', "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), HOSTILE_BODIES)
def test_hostile_bodies_are_coded_4xx(tier: LiveServer, body: bytes, content_type: str) -> None:
    r = post_raw(tier, body, content_type)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert error_code(r) == "BAD_USER_INPUT"


def test_body_byte_limit(tier: LiveServer) -> None:
    limit = GUARD_API["graphql_body_bytes_max"]
    padded = orjson.dumps({"query": "{ boards { id } }", "variables": {"pad": "x" * limit}})
    r = post_raw(tier, padded)
    assert r.status_code == 413 and error_code(r) == "BAD_USER_INPUT"
    assert post(tier, "{ boards { id } }").status_code == 200


def test_comments_count_as_tokens(tier: LiveServer) -> None:
    commented = "#\n" * 2500 + "{ boards { id } }"    # 5 KB: within the byte limit, over the token limit
    r = post(tier, commented)
    assert error_code(r) == "BAD_USER_INPUT" and "tokens" in r.json()["errors"][0]["message"]


@pytest.mark.anyio
@pytest.mark.parametrize("build", [build_schema, build_global_schema])
async def test_depth_limit_on_both_schemas(build: Any) -> None:
    """The schemas' natural depth is 3, under the default limit: checked with a limit of 2."""
    result = await build(ApiLimits(query_depth_max=2)).execute('{ leaderboard(board:"x"){ edges { node { rank } } } }')
    assert result.errors and "maximum operation depth" in result.errors[0].message
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT"}


def test_alias_limit(tier: LiveServer) -> None:
    aliased = "{ " + " ".join(f"a{i}: boards {{ id }}" for i in range(31)) + " }"
    r = post(tier, aliased)
    assert error_code(r) == "BAD_USER_INPUT" and "aliases" in r.json()["errors"][0]["message"].lower()


def test_cost_counts_variables_and_fragments(tier: LiveServer) -> None:
    """A page size hidden in a variable, a variable's default or a fragment still counts; the
    largest documented page with every field is always served (here: refused only for its board)."""
    by_variable = "query($n:Int!){ " + " ".join(
        f"a{i}: leaderboard(board:\"none\", first:$n){{ edges {{ node {{ rank }} }} }}" for i in range(30)) + " }"
    r = post(tier, by_variable, {"n": 1000})
    assert error_code(r) == "BAD_USER_INPUT" and "query cost" in r.json()["errors"][0]["message"]
    by_default = by_variable.replace("$n:Int!", "$n:Int = 1000")
    assert "query cost" in post(tier, by_default).json()["errors"][0]["message"]
    by_fragment = ("query($n:Int!){ ...F } fragment F on Query { " + " ".join(
        f"a{i}: leaderboard(board:\"none\", first:$n){{ ...E }}" for i in range(10)) +
        " } fragment E on LeaderboardConnection { edges { node { rank } } }")
    assert "query cost" in post(tier, by_fragment, {"n": 1000}).json()["errors"][0]["message"]
    largest = post(tier, LARGEST_PAGE, {"n": 1000}).json()
    assert all("query cost" not in e["message"] for e in largest["errors"])
    assert {e["extensions"]["code"] for e in largest["errors"]} <= {"NOT_FOUND", "BAD_USER_INPUT"}


def test_subscription_over_http_is_refused(tier: LiveServer) -> None:
    r = post(tier, 'subscription { topChanged(board:"none", n:3) { changes { player } } }')
    assert r.status_code == 400 and error_code(r) == "BAD_USER_INPUT"
    assert "websocket" in r.json()["errors"][0]["message"]


@pytest.mark.anyio
async def test_rank_changed_needs_the_players_token(tier: LiveServer) -> None:
    sub = await Subscriber(tier.ws_url).connect()
    try:
        await sub.subscribe('subscription { rankChanged(board:"none", player:"p1") { rank } }')
        msg = await asyncio.wait_for(sub.next(), 5)
        assert msg["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        await sub.close()


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", ["graphql-ws", "graphql-transport-ws"])
async def test_websocket_without_connection_init_is_closed(tier: LiveServer, protocol: str) -> None:
    async with websockets.connect(tier.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


@pytest.mark.anyio
async def test_websocket_message_size_limit(tier: LiveServer) -> None:
    async with websockets.connect(tier.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {"pad": "x" * 100_000}}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.anyio
async def test_malformed_legacy_messages_close_the_socket(tier: LiveServer) -> None:
    for message in ("5", "[]", '{"type": 5}', '{"type": "start", "id": 1, "payload": {}}',
                    '{"type": "start", "id": "1", "payload": {"query": 5}}'):
        async with websockets.connect(tier.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            await ws.send('{"type": "connection_init"}')
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, message


@pytest.fixture(scope="module", params=TIERS)
def limited_tier(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[LiveServer]:
    with serve_tier(request.param, redis_server, {**GUARD_API, "rate_limit_per_s": 1.0, "rate_limit_burst": 3,
                                                  "rate_limit_ip_factor": 100.0}) as server:
        yield server


@pytest.mark.anyio
async def test_rate_limits_per_credential_over_http_and_websocket(limited_tier: LiveServer) -> None:
    def ask(who: str) -> httpx.Response:
        return httpx.post(f"{limited_tier.url}/graphql", json={"query": "{ boards { id } }"},
                          headers={"Authorization": f"Bearer {who}"})
    responses = [ask("alice") for _ in range(8)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, [r.status_code for r in responses]
    assert error_code(limited[0]) == "RATE_LIMITED" and int(limited[0].headers["retry-after"]) >= 1
    assert ask("bob").status_code == 200            # another credential on the same IP has its own bucket
    with pytest.raises(InvalidStatus) as refused:
        for _ in range(8):
            async with websockets.connect(limited_tier.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                          additional_headers={"Authorization": "Bearer carol"}):
                pass
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(("content_type", "size"), [("text/plain", 200_000), ("\x9a", 50_000),
                                                     ("application/json", 3_000_000)])
def test_refused_body_does_not_stall_the_connection(tier: LiveServer, content_type: str, size: int) -> None:
    """A request refused before its body is read (bad content type, too large) must not leave the
    body on the connection, where it would be read as the next request and stall it."""
    with httpx.Client(timeout=10) as client:
        refused = client.post(f"{tier.url}/graphql", content=b"{" + b" " * size + b"}",
                              headers={"content-type": content_type.encode("latin-1")})
        assert 400 <= refused.status_code < 500 and error_code(refused) == "BAD_USER_INPUT"
        after = client.post(f"{tier.url}/graphql", json={"query": "{ boards { id } }"})
        assert after.status_code == 200

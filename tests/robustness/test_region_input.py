"""Unvalidated input that used to reach a region's internals: integers beyond 64 bits and lone
surrogates in batches (with and without an Idempotency-Key), event ids measured in bytes, crafted
cursors, a pending Idempotency-Key, mis-set JWT algorithms."""

from __future__ import annotations

import base64

import httpx
import orjson
import pytest
from podium.region.idempotency_redis import IdempotencyStore
from podium.region.ingest import entries_digest
from pydantic import ValidationError

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.errors import InProgress
from podium.redis_client import connect
from podium.redis_server import RedisServer
from tests.region.helpers import create_board, entry, graphql, now_ms, post_scores, top, unique


def raw_batch(board: str, *extra: str) -> bytes:
    good = orjson.dumps(entry(board, "good", 7)).decode()
    return ('{"entries": [' + ",".join([good, *extra]) + "]}").encode()


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("bad", [
    '{"board": "%s", "player": "p", "score": 1e400, "achieved_at": 1, "event_id": "x1"}',
    '{"board": "%s", "player": "p", "score": 1234567890123456789012345678901, "achieved_at": 1, "event_id": "x2"}',
    '{"board": "%s", "player": "\\ud800", "score": 1, "achieved_at": 1, "event_id": "x3"}',
    '{"board": "%s", "player": "p", "score": 1, "achieved_at": 1, "event_id": "\\ud800"}',
    '{"board": "%s", "player": "p\\n", "score": 1, "achieved_at": 1, "event_id": "x4"}',
    '{"board": "\\udfff", "player": "p", "score": 1, "achieved_at": 1, "event_id": "x5"}',
    '{"board": "%s", "player": "p", "score": NaN, "achieved_at": 1, "event_id": "x6"}',
    '{"board": "%s", "player": "p", "score": 1, "achieved_at": 123456789012345678901234567890, "event_id": "x7"}',
])
def test_bad_entries_are_rejected_alone_and_good_ones_applied_once(live_region: LiveServer, bad: str,
                                                                   with_key: bool) -> None:
    board = create_board(live_region.url)
    body = raw_batch(board, bad.replace("%s", board))
    key = unique("idem") if with_key else None
    r = post_scores(live_region.url, body, idempotency_key=key)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["applied", "rejected"]
    assert [e["player"] for e in top(live_region.url, board)] == ["good"]
    if with_key:   # a retry replays the stored answer
        assert post_scores(live_region.url, body, idempotency_key=key).json() == r.json()


def test_oversized_bodies_are_answered_413_not_stalled(live_region: LiveServer) -> None:
    """A body far over the limit (several MB, more than socket buffers hold) still gets its 413."""
    big = b'{"query": "' + b"#" * 3_000_000 + b'"}'
    r = httpx.post(f"{live_region.url}/graphql", content=big, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    r = post_scores(live_region.url, b'{"entries": [' + b" " * 3_000_000 + b"]}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "BAD_USER_INPUT"


def test_event_id_limit_counts_bytes(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    fits = entry(board, "a", 1, ev="é" * 64)          # 128 bytes
    too_long = entry(board, "b", 1, ev="é" * 65)      # 65 characters, 130 bytes
    r = post_scores(live_region.url, {"entries": [fits, too_long]})
    assert [x["status"] for x in r.json()["results"]] == ["applied", "rejected"]
    assert "bytes" in r.json()["results"][1]["reason"]


def test_entries_digest_takes_any_json_value() -> None:
    odd = [{"score": 10**40, "player": "\ud800", "x": float("nan")}, [[[]]], None]
    assert entries_digest(odd) == entries_digest(list(odd)) != entries_digest([{"score": 10**40}])


def forged(parts: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode()


@pytest.mark.parametrize("cursor", [
    forged([0, -1, "a"]), forged([0, 281474976710656, "a"]), forged([9007199254740993, 0, "a"]),
    forged([0, 0, "a\n"]), forged([0, 0, ""]), forged([True, 0, "a"]), forged([0, 0]), forged({"a": 1}),
    "!!!", "", base64.urlsafe_b64encode(b"[0,0,\"\\ud800\"]").decode(), "A" * 5000,
])
def test_crafted_cursors_are_invalid_cursor(live_region: LiveServer, cursor: str) -> None:
    board = create_board(live_region.url)
    post_scores(live_region.url, {"entries": [entry(board, "a", 1)]})
    doc = graphql(live_region.url, "query($b:String!,$c:String!){ leaderboard(board:$b, first:3, after:$c)"
                                   "{ edges { node { rank } } } }", {"b": board, "c": cursor})
    assert doc["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert doc["errors"][0]["message"] == "invalid cursor"


@pytest.mark.anyio
async def test_pending_idempotency_key_is_a_retryable_conflict(redis_server: RedisServer) -> None:
    redis = connect(f"{redis_server.url}/4")
    store = IdempotencyStore(redis, 60_000)
    try:
        assert await store.begin("k", "same", "h") is None
        with pytest.raises(InProgress) as pending:
            await store.begin("k", "same", "h")
        assert pending.value.code == "CONFLICT" and pending.value.http_status == 409
        assert pending.value.extensions["retryAfter"] > 0
    finally:
        await redis.aclose()


def test_pending_key_over_http_has_retry_after(live_region: LiveServer) -> None:
    """A second request with a key that is still pending (here: planted) gets 409 CONFLICT + Retry-After."""
    import asyncio

    from podium.signing import signed_headers
    from tests.conftest import GAME_KEY_ID, GAME_SECRET

    board = create_board(live_region.url)
    key = unique("pending")
    service = live_region.app.state.service
    store = service.ingest.idempotency
    future = asyncio.run_coroutine_threadsafe(store.begin(GAME_KEY_ID, key, "other"), live_region._loop)
    assert future.result(5) is None
    body = orjson.dumps({"entries": [entry(board, "a", 1)]})
    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", now_ms(), body)
    r = httpx.post(f"{live_region.url}/v1/scores", content=body, headers={**headers, "Idempotency-Key": key})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize("kwargs", [
    {"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},   # HS256 with a public key
    {"jwt_jwks_url": "https://example.invalid/jwks", "jwt_algorithms": ["RS256", "HS256"]},
    {"jwt_secret": "s", "jwt_algorithms": ["RS256"]},
    {"jwt_secret": "s", "jwt_algorithms": ["none"]},
    {"jwt_secret": "s", "jwt_algorithms": []},
])
def test_mis_set_jwt_algorithms_refuse_to_start(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="jwt_algorithms"):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_well_set_jwt_algorithms_start() -> None:
    Settings(jwt_public_key="k", jwt_algorithms=["RS256", "ES256"])
    Settings(jwt_secret="s", jwt_algorithms=["HS256", "HS512"])
    Settings(jwt_secret="s", jwt_public_key="k")                       # HS256 checked with the secret only
    Settings(jwt_secret="s", jwt_jwks_url="https://example.invalid/jwks", jwt_algorithms=["HS256", "RS256"])


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_quarantine_pages_by_cursor(live_region: LiveServer, limit: int) -> None:
    """25 quarantined entries written in the same millisecond (one batch): paging by the last row's
    id reaches each once, newest first; a malformed cursor is BAD_USER_INPUT."""
    from tests.conftest import ADMIN_KEY

    board = create_board(live_region.url, operator="increment", max_delta_per_minute=100)
    ts = now_ms() - 1000
    sent = [entry(board, "ann", 1, ts=ts)] + [entry(board, "ann", 500, ts=ts, ev=f"q{i:02d}") for i in range(25)]
    statuses = [x["status"] for x in post_scores(live_region.url, {"entries": sent}).json()["results"]]
    assert statuses == ["applied"] + ["quarantined"] * 25
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    seen: list[str] = []
    params: dict[str, str | int] = {"board": board, "limit": limit}
    for _ in range(30):
        doc = httpx.get(f"{live_region.url}/v1/admin/quarantine", params=params, headers=auth).json()
        seen += [row["event_id"] for row in doc["entries"]]
        if doc["next"] is None:
            break
        params["after"] = doc["next"]
    assert seen == [f"q{i:02d}" for i in reversed(range(25))]
    for edge in ("0-0", "0-1", "1-0", "18446744073709551615-18446744073709551615"):   # no predecessor, or past the end
        r = httpx.get(f"{live_region.url}/v1/admin/quarantine", params={"board": board, "after": edge}, headers=auth)
        assert r.status_code == 200, r.text
        assert len(r.json()["entries"]) == (25 if edge.startswith("1844") else 0)
    for bad in ("x", "1-", "-1", "1-2-3", "", "99999999999999999999-0"):
        r = httpx.get(f"{live_region.url}/v1/admin/quarantine", params={"board": board, "after": bad}, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_USER_INPUT"


def test_a_token_is_checked_only_with_its_own_family_key() -> None:
    """HS256 signed with the (public) RSA key as the HMAC secret is the key-confusion attack: refused."""
    import asyncio
    import base64
    import hashlib
    import hmac
    import json
    import time

    import jwt as pyjwt

    from podium.errors import Unauthenticated
    from podium.gql.auth import _decode_jwt

    public_pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----"
    settings = Settings(jwt_secret="the-real-hmac-secret-0123456789abcdef", jwt_public_key=public_pem,
                        jwt_algorithms=["HS256", "RS256"])
    claims = {"sub": "ann", "exp": int(time.time()) + 60}
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = header + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"   # PyJWT itself refuses to sign with a PEM as HMAC key
    with pytest.raises(Unauthenticated):
        asyncio.run(_decode_jwt(forged, settings))
    good = pyjwt.encode(claims, "the-real-hmac-secret-0123456789abcdef", algorithm="HS256")
    assert asyncio.run(_decode_jwt(good, settings))["sub"] == "ann"

"""The verified-JWT cache (podium/gql/jwt_cache.py) and its use by `caller`: a token is verified
once, then taken from the cache only with the same keys, before its exp and within the TTL."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from podium.config import Settings
from podium.errors import Unauthenticated
from podium.gql import auth
from podium.gql.jwt_cache import ClaimsCache

V1 = ("secret-1", None, None, ["HS256"])
V2 = ("secret-2", None, None, ["HS256"])


def test_hit_needs_the_same_verifier_and_a_live_entry() -> None:
    cache = ClaimsCache(entries_max=10, ttl_ms=60_000)
    cache.put("t", V1, {"sub": "ann", "exp": 1_000}, now_s=100.0, leeway_s=30)
    assert cache.get("t", V1, 100.5) == {"sub": "ann", "exp": 1_000}
    assert cache.get("t", V2, 100.5) is None  # other keys: verified again
    assert cache.get("t", V1, 100.5) is None  # ... and the stale entry was dropped
    cache.put("t", V1, {"sub": "ann", "exp": 1_000}, now_s=100.0, leeway_s=30)
    assert cache.get("t", V1, 159.9) is not None
    assert cache.get("t", V1, 160.0) is None  # the TTL (60 s after the check)


def test_an_entry_ends_at_the_tokens_exp_plus_leeway() -> None:
    cache = ClaimsCache(entries_max=10, ttl_ms=60_000)
    cache.put("t", V1, {"sub": "ann", "exp": 110}, now_s=100.0, leeway_s=5)
    assert cache.get("t", V1, 114.9) is not None
    assert cache.get("t", V1, 115.0) is None
    cache.put("old", V1, {"sub": "ann", "exp": 50}, now_s=100.0, leeway_s=5)  # already past: not kept
    assert cache.get("old", V1, 100.0) is None


def test_bounded_least_recently_used_first_and_off_at_zero() -> None:
    cache = ClaimsCache(entries_max=2, ttl_ms=60_000)
    for t in ("a", "b"):
        cache.put(t, V1, {"exp": 10**10}, 0.0, 0)
    assert cache.get("a", V1, 1.0) is not None  # a is now the most recent
    cache.put("c", V1, {"exp": 10**10}, 1.0, 0)
    assert set(cache.entries) == {"a", "c"}
    off = ClaimsCache(entries_max=0, ttl_ms=60_000)
    off.put("a", V1, {"exp": 10**10}, 0.0, 0)
    assert not off.entries
    assert not ClaimsCache(entries_max=5, ttl_ms=0).entries


class _Info:
    """What `caller` reads of Strawberry's Info: the service's settings and the request's header."""

    def __init__(self, settings: Settings, token: str) -> None:
        service = SimpleNamespace(settings=settings)
        request = SimpleNamespace(scope={"type": "http"}, headers={"authorization": f"Bearer {token}"})
        self.context: dict[str, Any] = {"service": service, "request": request}


def _caller(settings: Settings, token: str) -> auth.Caller:
    return asyncio.run(auth.caller(_Info(settings, token)))  # type: ignore[arg-type]


def test_caller_verifies_once_and_never_across_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    auth._claims_caches.clear()
    decoded = []
    real = auth._decode_jwt

    async def counting(token: str, settings: Settings) -> dict[str, Any]:
        decoded.append(token)
        return await real(token, settings)

    monkeypatch.setattr(auth, "_decode_jwt", counting)
    one = Settings(jwt_secret="a-secret-of-thirty-two-bytes-1234")
    token = jwt.encode({"sub": "ann", "exp": int(time.time()) + 600}, one.jwt_secret, algorithm="HS256")
    assert _caller(one, token).player == "ann"
    assert _caller(one, token).player == "ann"
    assert decoded == [token]  # the second request took the cache
    other = Settings(jwt_secret="another-secret-of-thirty-two-byte")
    with pytest.raises(Unauthenticated):  # same token, other secret: verified, refused
        _caller(other, token)
    expired = jwt.encode({"sub": "bob", "exp": int(time.time()) - 3600}, one.jwt_secret, algorithm="HS256")
    for _ in range(2):  # a refusal is never cached
        with pytest.raises(Unauthenticated):
            _caller(one, expired)
    assert decoded == [token, token, expired, expired]

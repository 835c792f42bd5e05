"""The verified-JWT cache (`podium.gql.claims_cache`, used by `podium.gql.auth`): a token is
accepted from the cache exactly when a fresh verification at the same moment would accept it
(oracle: PyJWT's own exp/nbf/iat checks with its clock set to that moment), an expired token or
one verified under another configuration never passes, entries age out and the cache is bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from podium.clock import FakeClock
from podium.config import Settings
from podium.errors import Unauthenticated
from podium.gql import auth
from podium.gql.claims_cache import ClaimsCache, time_window

SECRET = "claims-cache-test-secret-0123456789abcdef"
BASE_S = 1_800_000_000


@dataclass
class _Service:
    settings: Settings
    clock: FakeClock


def _settings(**api: Any) -> Settings:
    return Settings(
        jwt_secret=SECRET, api={"jwt_claims_cache_max": 1000, "jwt_claims_cache_ttl_ms": 3_600_000, **api}
    )


def _who(token: str, service: _Service) -> str | None:
    """The player the token names, or None when it is refused."""
    try:
        return asyncio.run(auth._token_caller(token, service.settings, service)).player
    except Unauthenticated:
        return None


def _pyjwt_accepts(token: str, at_s: float) -> bool:
    """The oracle: PyJWT's full verification (signature, exp, nbf, iat, same leeway) with its clock at `at_s`."""

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return dt.datetime.fromtimestamp(at_s, tz=tz)

    real = jwt.api_jwt.datetime  # type: ignore[attr-defined]
    jwt.api_jwt.datetime = Frozen  # type: ignore[attr-defined]
    try:
        jwt.decode(
            token, SECRET, algorithms=["HS256"], leeway=auth.JWT_LEEWAY_S, options={"require": ["sub", "exp"]}
        )
        return True
    except jwt.PyJWTError:
        return False
    finally:
        jwt.api_jwt.datetime = real  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    auth._claims.clear()


offsets = st.integers(min_value=-120, max_value=120)


@hsettings(max_examples=200, deadline=None)
@given(exp=offsets, nbf=st.none() | offsets, iat=st.none() | offsets, first=offsets, second=offsets)
def test_cached_answer_equals_a_fresh_verification(
    exp: int, nbf: int | None, iat: int | None, first: int, second: int
) -> None:
    auth._claims.clear()
    claims: dict[str, Any] = {"sub": "ann", "exp": BASE_S + exp}
    if nbf is not None:
        claims["nbf"] = BASE_S + nbf
    if iat is not None:
        claims["iat"] = BASE_S + iat
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    service = _Service(_settings(), FakeClock(BASE_S * 1000))
    clock = service.clock
    clock.advance(max(0, first) * 1000)  # a first request (which may fill the cache) ...
    at_first = clock.now_ms() / 1000
    assert (_who(token, service) == "ann") == _pyjwt_accepts(token, at_first)
    clock.advance(max(0, second) * 1000)  # ... then the same token again, later
    assert (_who(token, service) == "ann") == _pyjwt_accepts(token, clock.now_ms() / 1000)


def test_a_hit_skips_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = auth._verified_claims

    async def counting(token: str, settings: Settings) -> dict[str, Any]:
        calls.append(token)
        return await real(token, settings)

    monkeypatch.setattr(auth, "_verified_claims", counting)
    service = _Service(_settings(), FakeClock(BASE_S * 1000))
    token = jwt.encode({"sub": "ann", "exp": BASE_S + 600}, SECRET, algorithm="HS256")
    hits = auth._claims.hits
    assert [_who(token, service) for _ in range(5)] == ["ann"] * 5
    assert len(calls) == 1 and auth._claims.hits - hits == 4


def test_an_expired_token_is_refused_though_it_was_cached() -> None:
    service = _Service(_settings(), FakeClock(BASE_S * 1000))
    token = jwt.encode({"sub": "ann", "exp": BASE_S + 10}, SECRET, algorithm="HS256")
    assert _who(token, service) == "ann"
    service.clock.advance((10 + auth.JWT_LEEWAY_S) * 1000 - 1)
    assert _who(token, service) == "ann"  # the last millisecond of the leeway
    service.clock.advance(1)
    hits = auth._claims.hits
    with pytest.raises(Unauthenticated, match="expired"):
        asyncio.run(auth._token_caller(token, service.settings, service))
    assert auth._claims.hits == hits and len(auth._claims) == 0


def test_a_token_is_not_served_under_another_configuration() -> None:
    """Rotating the secret revokes every token signed with the old one, cached or not."""
    clock = FakeClock(BASE_S * 1000)
    token = jwt.encode({"sub": "ann", "exp": BASE_S + 600}, SECRET, algorithm="HS256")
    assert _who(token, _Service(_settings(), clock)) == "ann"
    rotated = Settings(jwt_secret="another-secret-0123456789abcdef-xyz")
    assert _who(token, _Service(rotated, clock)) is None


def test_entries_age_out_and_a_withdrawn_key_stops_passing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JWKS key withdrawn (simulated: verification now refuses) stops passing once the entry's TTL is over."""
    service = _Service(_settings(jwt_claims_cache_ttl_ms=5_000), FakeClock(BASE_S * 1000))
    token = jwt.encode({"sub": "ann", "exp": BASE_S + 600}, SECRET, algorithm="HS256")
    assert _who(token, service) == "ann"

    async def withdrawn(token: str, settings: Settings) -> dict[str, Any]:
        raise Unauthenticated("invalid token: key withdrawn")

    monkeypatch.setattr(auth, "_verified_claims", withdrawn)
    service.clock.advance(4_999)
    assert _who(token, service) == "ann"
    service.clock.advance(1)
    assert _who(token, service) is None


def test_bounded_and_off() -> None:
    service = _Service(_settings(jwt_claims_cache_max=3), FakeClock(BASE_S * 1000))
    tokens = [jwt.encode({"sub": f"p{i}", "exp": BASE_S + 600}, SECRET, algorithm="HS256") for i in range(5)]
    assert [_who(t, service) for t in tokens] == [f"p{i}" for i in range(5)]
    assert len(auth._claims) == 3
    auth._claims.clear()
    off = _Service(_settings(jwt_claims_cache_max=0), FakeClock(BASE_S * 1000))
    assert _who(tokens[0], off) == "p0" and len(auth._claims) == 0


def test_malformed_time_claims_are_refused() -> None:
    service = _Service(_settings(), FakeClock(BASE_S * 1000))
    for claims in (
        {"sub": "ann", "exp": "soon"},
        {"sub": "ann", "exp": BASE_S + 60, "nbf": "x"},
        {"sub": "ann"},
    ):
        assert _who(jwt.encode(claims, SECRET, algorithm="HS256"), service) is None
    with pytest.raises(Exception, match="integer"):
        time_window({"exp": [1]}, 0)


def test_cache_unit_scope_is_identity() -> None:
    cache: ClaimsCache[str] = ClaimsCache()
    window = time_window({"exp": 100}, 0)
    cache.put("t", "scope-a", "ann", window, 0.0, 10)
    assert cache.get("t", "scope-a", 0, 0.0, 1000) == "ann"
    assert cache.get("t", "scope-b", 0, 0.0, 1000) is None

"""Who is calling: admin keys, player JWTs (HS256 or RS256 with a public key or JWKS), game servers.

HTTP requests carry `Authorization: Bearer <token>`; websockets carry it in the connection_init
payload (`{"authorization": "Bearer <token>"}`). A bearer that equals an admin key is an admin;
otherwise it must be a valid JWT: an admin token if its `podium_role` claim is `admin`
(see podium.web.admin_identity), else a player token whose `sub` is the player id.

A token's time claims (exp, nbf, iat, with `JWT_LEEWAY_S`) are checked by the service's injected
clock, and a verified token is kept (`podium.gql.claims_cache`, `api.jwt_claims_cache_max` tokens,
each at most `api.jwt_claims_cache_ttl_ms`), so a client's next request with it skips the decode;
an expired token, or one verified under another configuration, is never served from it."""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
from strawberry.types import Info

from podium.config import JWT_ASYMMETRIC, JWT_SYMMETRIC, Settings
from podium.errors import Forbidden, Unauthenticated
from podium.gql.claims_cache import ClaimsCache, ClaimsTimeError, TimeWindow, check_window, time_window
from podium.web.admin_identity import jwt_admin_name, key_name

JWT_LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool = False
    player: str | None = None
    name: str | None = None      # an admin's name in the audit log (never the key itself)


_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_claims: ClaimsCache[Caller] = ClaimsCache()   # per process; entries name the settings they were verified under


def _bearer(info: Info[Any, Any]) -> str | None:
    request = info.context.get("request")
    raw = None
    if request is not None and getattr(request, "scope", {}).get("type") == "http":
        raw = request.headers.get("authorization")
    if raw is None:
        params = info.context.get("connection_params") or {}
        raw = params.get("authorization") or params.get("Authorization")
    return bearer_token(raw)


def bearer_token(raw: object) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (None when there is none)."""
    if not raw:
        return None
    if not isinstance(raw, str) or not raw.startswith("Bearer "):
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return raw.removeprefix("Bearer ").strip()


async def _verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a token whose signature verifies and which carries `sub` and `exp`; its time
    claims are not checked here (`_decode_jwt` and `caller` check them by their clock)."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in settings.jwt_algorithms:
            raise Unauthenticated(f"tokens signed with {algorithm!r} are not accepted here")
        # One key per algorithm family: an HS* token is never checked against a public key (which
        # an attacker knows), nor an RS*/ES* token against the HMAC secret.
        family = JWT_SYMMETRIC if algorithm in JWT_SYMMETRIC else JWT_ASYMMETRIC
        key: Any
        if family is JWT_SYMMETRIC:
            key = settings.jwt_secret
        elif settings.jwt_jwks_url:
            client = _jwks_clients.setdefault(settings.jwt_jwks_url, jwt.PyJWKClient(settings.jwt_jwks_url))
            key = (await asyncio.to_thread(client.get_signing_key_from_jwt, token)).key  # network I/O off the loop
        else:
            key = settings.jwt_public_key
        if not key:
            raise Unauthenticated("player tokens are not configured on this region")
        return jwt.decode(token, key, algorithms=[a for a in settings.jwt_algorithms if a in family],
                          options={"require": ["sub", "exp"], "verify_exp": False, "verify_nbf": False,
                                   "verify_iat": False})
    except jwt.PyJWTError as exc:   # also a key the algorithm cannot use: never a 500
        raise Unauthenticated(f"invalid token: {exc}") from exc


def _window(claims: dict[str, Any], now_ms: int) -> TimeWindow:
    """The claims' time window, checked at `now_ms` (Unauthenticated outside it)."""
    try:
        window = time_window(claims, JWT_LEEWAY_S)
        check_window(window, now_ms)
    except ClaimsTimeError as exc:
        raise Unauthenticated(str(exc)) from exc
    return window


async def _decode_jwt(token: str, settings: Settings, now_ms: int | None = None) -> dict[str, Any]:
    """A token's claims once its signature and its time claims (at `now_ms`, default the system
    clock) verify; Unauthenticated otherwise."""
    claims = await _verified_claims(token, settings)
    _window(claims, time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    return claims


async def _token_caller(token: str, settings: Settings, service: Any) -> Caller:
    clock = getattr(service, "clock", None)
    now_ms = clock.now_ms() if clock is not None else time.time_ns() // 1_000_000
    monotonic = clock.monotonic() if clock is not None else time.monotonic()
    api = settings.api
    hit = _claims.get(token, settings, now_ms, monotonic, api.jwt_claims_cache_ttl_ms)
    if hit is not None:
        return hit
    claims = await _verified_claims(token, settings)
    window = _window(claims, now_ms)
    admin_name = jwt_admin_name(claims)
    result = Caller(admin=True, name=admin_name) if admin_name else Caller(player=str(claims["sub"]))
    _claims.put(token, settings, result, window, monotonic, api.jwt_claims_cache_max)
    return result


async def caller(info: Info[Any, Any]) -> Caller:
    cached = info.context.get("_caller")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    result = await token_caller(_bearer(info), info.context["service"])
    info.context["_caller"] = result
    return result


async def token_caller(token: str | None, service: Any) -> Caller:
    """Who a bearer token (from `bearer_token`) names on `service` (its settings and clock): an
    admin key, a valid JWT, or nobody (no token). Also for REST endpoints players call."""
    settings: Settings = service.settings
    if token is None:
        return Caller()
    if any(hmac.compare_digest(token, k) for k in settings.admin_keys):
        return Caller(admin=True, name=key_name(token))
    return await _token_caller(token, settings, service)


async def require_admin(info: Info[Any, Any]) -> None:
    who = await caller(info)
    if not who.admin:
        if who.player is None:
            raise Unauthenticated("this operation needs an admin key: 'Authorization: Bearer <admin key>'")
        raise Forbidden("this operation is for admins")


async def authorize_player(info: Info[Any, Any], player: str) -> None:
    """The player's own token, or an admin key."""
    who = await caller(info)
    if who.admin or who.player == player:
        return
    if who.player is None:
        raise Unauthenticated(f"reading {player!r}'s private data needs their token")
    raise Forbidden("a player token only gives access to that player's own data")


async def authorize_read(info: Info[Any, Any], public: bool) -> None:
    """Public boards are open; the others need any valid player token or an admin key."""
    if public:
        return
    who = await caller(info)
    if not who.admin and who.player is None:
        raise Unauthenticated("this board needs a player token")

"""Who is calling: admin keys, player JWTs (HS256 or RS256 with a public key or JWKS), game servers.

HTTP requests carry `Authorization: Bearer <token>`; websockets carry it in the connection_init
payload (`{"authorization": "Bearer <token>"}`). A bearer that equals an admin key is an admin;
otherwise it must be a valid JWT: an admin token if its `podium_role` claim is `admin`
(see podium.web.admin_identity), else a player token whose `sub` is the player id."""

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
from podium.gql.jwt_cache import ClaimsCache
from podium.web.admin_identity import jwt_admin_name, key_name

JWT_LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool = False
    player: str | None = None
    name: str | None = None      # an admin's name in the audit log (never the key itself)


_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_claims_caches: dict[tuple[int, int], ClaimsCache] = {}   # one per (entries_max, ttl_ms) configured


def _claims_cache(settings: Settings) -> ClaimsCache:
    size = (settings.jwt_cache_entries_max, settings.jwt_cache_ttl_ms)
    cache = _claims_caches.get(size)
    if cache is None:
        cache = _claims_caches[size] = ClaimsCache(*size)
    return cache


async def _verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    """The token's claims, verified now or (the same token, the same keys) within the cache's TTL."""
    cache = _claims_cache(settings)
    verifier = (settings.jwt_secret, settings.jwt_public_key, settings.jwt_jwks_url, settings.jwt_algorithms)
    now_s = time.time()
    claims = cache.get(token, verifier, now_s)
    if claims is None:
        claims = await _decode_jwt(token, settings)
        cache.put(token, verifier, claims, now_s, JWT_LEEWAY_S)
    return claims


def _bearer(info: Info[Any, Any]) -> str | None:
    request = info.context.get("request")
    raw = None
    if request is not None and getattr(request, "scope", {}).get("type") == "http":
        raw = request.headers.get("authorization")
    if raw is None:
        params = info.context.get("connection_params") or {}
        raw = params.get("authorization") or params.get("Authorization")
    if not raw:
        return None
    if not isinstance(raw, str) or not raw.startswith("Bearer "):
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return raw.removeprefix("Bearer ").strip()


async def _decode_jwt(token: str, settings: Settings) -> dict[str, Any]:
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
                          leeway=JWT_LEEWAY_S, options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired") from exc
    except jwt.PyJWTError as exc:   # also a key the algorithm cannot use: never a 500
        raise Unauthenticated(f"invalid token: {exc}") from exc


async def caller(info: Info[Any, Any]) -> Caller:
    cached = info.context.get("_caller")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    settings: Settings = info.context["service"].settings
    token = _bearer(info)
    if token is None:
        result = Caller()
    elif any(hmac.compare_digest(token, k) for k in settings.admin_keys):
        result = Caller(admin=True, name=key_name(token))
    else:
        claims = await _verified_claims(token, settings)
        admin_name = jwt_admin_name(claims)
        result = Caller(admin=True, name=admin_name) if admin_name else Caller(player=str(claims["sub"]))
    info.context["_caller"] = result
    return result


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
